use super::*;

fn server() -> SocketAddr {
    "192.0.2.10:80".parse().unwrap()
}

fn complete(data: &[u8]) -> (RequestHead<'_>, usize) {
    match parse_request_head(data, false) {
        HeadStatus::Complete { head, len } => (head, len),
        other => panic!("expected a complete head, got {other:?}"),
    }
}

fn uri_of(data: &[u8]) -> String {
    let (head, _) = complete(data);
    request_uri(&head, server(), false)
}

#[test]
fn head_origin_form_with_host() {
    let data = b"GET /gate.php?id=1 HTTP/1.1\r\nHost: evil.example\r\nAccept: */*\r\n\r\nrest";
    let (head, len) = complete(data);
    assert_eq!(len, data.len() - 4);
    assert_eq!(head.method, b"GET");
    assert_eq!(head.host, Some(&b"evil.example"[..]));
    assert_eq!(
        request_uri(&head, server(), false),
        "http://evil.example/gate.php?id=1"
    );
    assert_eq!(
        request_uri(&head, server(), true),
        "https://evil.example/gate.php?id=1"
    );
}

#[test]
fn head_host_missing_uses_server_address() {
    assert_eq!(uri_of(b"GET /x HTTP/1.0\r\n\r\n"), "http://192.0.2.10/x");
    let (head, _) = complete(b"GET /x HTTP/1.1\r\nHost:   \r\n\r\n");
    let v6: SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
    assert_eq!(request_uri(&head, v6, false), "http://[2001:db8::1]:8080/x");
    let v6_https: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    assert_eq!(
        request_uri(&head, v6_https, true),
        "https://[2001:db8::1]/x"
    );
}

#[test]
fn head_first_host_wins_case_kept() {
    let uri = uri_of(b"GET / HTTP/1.1\r\nhOsT:  Evil.Example:8080. \r\nHost: other\r\n\r\n");
    assert_eq!(uri, "http://Evil.Example:8080./");
}

#[test]
fn head_target_forms() {
    assert_eq!(
        uri_of(b"GET HTTP://bro.org/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        "HTTP://bro.org/"
    );
    assert_eq!(uri_of(b"CONNECT abc:443 HTTP/1.1\r\n\r\n"), "abc:443");
    assert_eq!(
        uri_of(b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"),
        "http://h/"
    );
    assert_eq!(
        uri_of(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n"),
        "http://239.255.255.250:1900*"
    );
    assert_eq!(
        uri_of(b"OPTIONS HTTP/1.1\r\nHost: www.google.com\r\n\r\n"),
        "http://www.google.comHTTP/1.1"
    );
    assert_eq!(
        uri_of(b"OPTIONS\r\nHost: www.google.com\r\n\r\n"),
        "http://www.google.com"
    );
}

#[test]
fn head_versionless_needs_header_lines() {
    assert_eq!(
        parse_request_head(b"EHLO mail.example\r\nSTARTTLS\r\n", false),
        HeadStatus::NotHttp
    );
    assert_eq!(
        parse_request_head(b"GET /x\r\n\r\n", false),
        HeadStatus::NotHttp
    );
    assert_eq!(
        parse_request_head(b"GET /x\r\n", false),
        HeadStatus::Incomplete
    );
    assert_eq!(parse_request_head(b"GET /x\r\n", true), HeadStatus::NotHttp);
    assert_eq!(uri_of(b"GET /x\r\nHost: h\r\n\r\n"), "http://h/x");
}

#[test]
fn head_lenient_header_lines_accepted() {
    // Space before the colon, a folded line and a control byte: httparse rejects all three.
    let data =
        b"GET /a HTTP/1.1\r\nHost : lenient.example\r\nX-Folded: a\r\n b\r\nX-Ctl: \x01\r\n\r\n";
    assert_eq!(uri_of(data), "http://lenient.example/a");
}

#[test]
fn head_many_headers_accepted() {
    let mut data = b"GET /many HTTP/1.1\r\n".to_vec();
    for i in 0..150 {
        data.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    data.extend_from_slice(b"Host: many.example\r\n\r\n");
    assert_eq!(uri_of(&data), "http://many.example/many");
}

#[test]
fn head_other_versions_accepted() {
    assert_eq!(uri_of(b"GET /v HTTP/0.9\r\nHost: h\r\n\r\n"), "http://h/v");
    assert_eq!(
        uri_of(b"get /lower HTTP/1.1\r\nHost: h\r\n\r\n"),
        "http://h/lower"
    );
}

#[test]
fn head_nonprintable_bytes_escaped() {
    let uri = uri_of(b"GET /a b\x07\xf0\x9f HTTP/1.1\r\nHost: h\xff\r\n\r\n");
    assert_eq!(uri, "http://h%FF/a%20b%07%F0%9F");
    assert_eq!(
        uri_of(b"GET /%41%zz HTTP/1.1\r\nHost: h\r\n\r\n"),
        "http://h/%41%zz"
    );
}

#[test]
fn head_body_framing_read() {
    let (head, _) = complete(b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(head.body, BodyFraming::ContentLength(12));
    let (head, _) = complete(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
    );
    assert_eq!(head.body, BodyFraming::Chunked);
    let (head, _) = complete(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    assert_eq!(head.body, BodyFraming::None);
}

#[test]
fn head_not_http() {
    for data in [
        &b"\x16\x03\x01\x00"[..],
        b"SSH-2.0-OpenSSH\r\n\x00\x00\x01",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b" GET / HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            parse_request_head(data, false),
            HeadStatus::NotHttp,
            "{data:?}"
        );
    }
    assert_eq!(
        parse_request_head(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
        HeadStatus::NotHttp
    );
}

#[test]
fn head_every_truncation() {
    let data = b"POST /submit?a=1 HTTP/1.1\r\nHost: t.example\r\nContent-Length: 2\r\n\r\n";
    let line_end = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    for cut in 0..data.len() {
        let prefix = &data[..cut];
        // More bytes may come: every proper prefix is incomplete, never an error.
        assert_eq!(
            parse_request_head(prefix, false),
            HeadStatus::Incomplete,
            "cut {cut}"
        );

        // Nothing more comes: the request counts once its target is whole.
        let cut_status = parse_request_head(prefix, true);
        let target_whole = cut > "POST /submit?a=1 ".len();
        // A cut inside the Host line hides the authority, so nothing is reported.
        let inside_host_line = cut > line_end && cut < line_end + "Host: t.example\r\n".len();
        match cut_status {
            HeadStatus::Complete { head, len } => {
                assert!(
                    target_whole && !inside_host_line,
                    "cut {cut}: complete too early"
                );
                assert_eq!(head.target, b"/submit?a=1", "cut {cut}");
                assert_eq!(len, cut, "cut {cut}");
                // A header line counts once its line end is present.
                let host_whole = cut >= line_end + "Host: t.example\r\n".len();
                assert_eq!(head.host.is_some(), host_whole, "cut {cut}");
            }
            HeadStatus::NotHttp => assert!(
                !target_whole || inside_host_line,
                "cut {cut}: whole target rejected"
            ),
            HeadStatus::Incomplete => panic!("cut {cut}: incomplete although nothing more comes"),
        }
    }
    assert!(matches!(
        parse_request_head(data, false),
        HeadStatus::Complete { .. }
    ));
}

#[test]
fn head_random_input_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 64) as usize;
        let alphabet = b"GET /:\r\n HTTP/1.1Host";
        let data: Vec<u8> = (0..len)
            .map(|i| alphabet[((state >> (i % 56)) as usize + i) % alphabet.len()])
            .collect();
        for at_end in [false, true] {
            if let HeadStatus::Complete { head, len } = parse_request_head(&data, at_end) {
                assert!(len <= data.len());
                let _ = request_uri(&head, server(), false);
            }
        }
    }
}

#[test]
fn chunked_body_skipped() {
    let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nGET";
    let mut state = ChunkState::start();
    let used = state.advance(body);
    assert_eq!(state, ChunkState::Done);
    assert_eq!(&body[used..], b"GET");

    // The same body fed one byte at a time.
    let mut state = ChunkState::start();
    let mut used = 0;
    for byte in body.chunks(1) {
        if state == ChunkState::Done {
            break;
        }
        used += state.advance(byte);
    }
    assert_eq!(&body[used..], b"GET");
}

#[test]
fn chunked_body_invalid_size() {
    let mut state = ChunkState::start();
    state.advance(b"zz\r\n");
    assert_eq!(state, ChunkState::Invalid);
}
