//! The client-to-server byte stream of one TCP connection, read for HTTP
//! requests, a TLS ClientHello and DNS queries.
//!
//! A message may begin at the start of the stream, where the previous HTTP
//! request and its body ended, and at the start of every segment while the
//! stream is in an unknown protocol. That last rule finds a ClientHello after
//! a plaintext STARTTLS exchange or a CONNECT request without knowing the
//! protocol that came before it.
//!
//! With a key log, a TLS session whose secrets it contains is decrypted from its
//! ClientHello on, and the requests inside are read as `https://` URIs by a
//! second `ClientStream` fed with the decrypted application data.

use std::net::SocketAddr;

use super::datagram::mine_dns_message;
use super::http::{self, BodyFraming, ChunkState, HeadStatus};
use super::tls::{self, ClientHelloJoiner, JoinProgress};
use super::tls_decrypt::TlsSession;
use super::{dns, Finding, Findings, DNS_PORTS, MAX_HEAD_LEN};
use crate::flow::{ConnectionEnds, StreamHandler};

/// Limits of the stream parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Bytes of one HTTP request head kept while it spans segments; a longer head is parsed as it is.
    pub max_head_len: usize,
    /// Bytes of request heads kept across all streams; past this total, a head is parsed as it is.
    pub max_total_head_bytes: usize,
    /// QUIC connections whose ClientHello is being joined from Initial packets. Past this, the oldest is dropped.
    pub max_quic_connections: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_head_len: MAX_HEAD_LEN,
            max_total_head_bytes: 32 << 20,
            max_quic_connections: super::quic::MAX_CONNECTIONS,
        }
    }
}

/// Parser state in the client stream.
#[derive(Debug)]
enum Mode {
    /// A message may begin here.
    Boundary,
    /// An HTTP request head that spans segments, copied so far.
    Head(Vec<u8>),
    /// The rest of a head cut at a limit, skipped up to its blank line; then the body framing applies.
    HeadTail {
        body: BodyFraming,
        last: [u8; 3],
    },
    /// Skipping this many bytes of a request body.
    Body(u64),
    Chunked(ChunkState),
    ClientHello(Box<ClientHelloJoiner>),
    Dns(Box<dns::TcpFramer>),
    /// Unknown content: look again at the start of the next segment.
    Skip,
    /// The rest of the stream belongs to a TLS session being decrypted.
    Tls,
    /// Nothing later in the stream can be read (encrypted after a ClientHello).
    Done,
}

/// A TLS session being decrypted, and the reader of its plaintext.
#[derive(Debug)]
struct Decryption {
    session: TlsSession,
    plaintext: ClientStream,
}

/// Reads one connection's client stream; the flow layer feeds it.
#[derive(Debug)]
pub struct ClientStream {
    server: SocketAddr,
    dns_ports: bool,
    mode: Mode,
    /// Cleared when the stream's first message is not HTTP: later segment
    /// starts are then only checked for a ClientHello. Without this, a shell
    /// session typed one byte per segment would sooner or later show a line
    /// that looks like a request.
    http_possible: bool,
    /// Bytes delivered so far, to tell the first message from later ones.
    offset: u64,
    /// Bytes of the held head already searched for its blank line.
    head_searched: usize,
    /// Line ends in the held head.
    head_lines: usize,
    /// Bytes of this stream's head buffer counted in `Findings::buffered_head_bytes`.
    head_accounted: usize,
    /// A gap came since the last request: a segment that starts inside lost
    /// header lines looks like a versionless request, so only a request line
    /// with its HTTP version counts until the next request.
    after_gap: bool,
    /// The stream is decrypted TLS application data: URIs get the `https` scheme.
    https: bool,
    decryption: Option<Box<Decryption>>,
}

impl StreamHandler for ClientStream {
    type Context = Findings;

    fn new(client: SocketAddr, server: SocketAddr) -> Self {
        let dns_ports = DNS_PORTS.contains(&server.port()) || DNS_PORTS.contains(&client.port());
        ClientStream {
            server,
            dns_ports,
            mode: Mode::Boundary,
            http_possible: true,
            offset: 0,
            head_searched: 0,
            head_lines: 0,
            head_accounted: 0,
            after_gap: false,
            https: false,
            decryption: None,
        }
    }

    fn data(&mut self, findings: &mut Findings, data: &[u8]) {
        self.read(findings, data);
        self.account_head(findings);
    }

    fn gap(&mut self, findings: &mut Findings, len: u64) {
        self.skip(findings, len);
        self.account_head(findings);
    }

    fn wants_data(&self) -> bool {
        !matches!(self.mode, Mode::Done)
    }

    fn finish(&mut self, findings: &mut Findings, ends: ConnectionEnds) {
        self.end(findings, ends);
        self.account_head(findings);
    }

    fn wants_server_data(&self) -> bool {
        self.decryption
            .as_ref()
            .is_some_and(|decryption| decryption.session.wants_server_data())
    }

    fn server_data(&mut self, findings: &mut Findings, data: &[u8]) {
        if let Some(decryption) = &mut self.decryption {
            let plaintext = decryption
                .session
                .server_data(data, &mut findings.tls_decryption);
            decryption.read_plaintext(findings, plaintext);
            self.end_inactive_decryption(findings);
        }
        self.account_head(findings);
    }

    fn server_gap(&mut self, findings: &mut Findings, _len: u64) {
        if let Some(decryption) = &mut self.decryption {
            decryption.session.server_gap(&mut findings.tls_decryption);
            self.end_inactive_decryption(findings);
        }
    }
}

impl ClientStream {
    /// Reads contiguous client bytes.
    fn read(&mut self, findings: &mut Findings, data: &[u8]) {
        if let Some(decryption) = &mut self.decryption {
            let plaintext = decryption
                .session
                .client_data(data, &mut findings.tls_decryption);
            decryption.read_plaintext(findings, plaintext);
            self.end_inactive_decryption(findings);
        }
        if matches!(self.mode, Mode::Skip) {
            self.mode = Mode::Boundary;
        }
        let chunk_start = self.offset;
        self.offset += data.len() as u64;
        let mut data = data;
        while !data.is_empty() {
            data = match &mut self.mode {
                Mode::Boundary => self.boundary(findings, data, chunk_start),
                Mode::Head(_) => self.continue_head(findings, data),
                Mode::HeadTail { .. } => self.skip_head_tail(data),
                Mode::Body(left) => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    if *left == 0 {
                        self.mode = Mode::Boundary;
                    }
                    &data[take as usize..]
                }
                Mode::Chunked(state) => {
                    let used = state.advance(data);
                    match state {
                        ChunkState::Done => self.mode = Mode::Boundary,
                        ChunkState::Invalid => self.mode = Mode::Skip,
                        _ => {}
                    }
                    &data[used..]
                }
                Mode::ClientHello(joiner) => match joiner.push(data) {
                    Ok(JoinProgress::NeedMore) => &[],
                    Ok(JoinProgress::Done {
                        consumed,
                        server_names,
                    }) => {
                        self.report_server_names(findings, &server_names);
                        self.mode = if self.decryption.is_some() {
                            Mode::Tls
                        } else {
                            Mode::Done
                        };
                        &data[consumed.min(data.len())..]
                    }
                    Err(_) => {
                        findings.malformed_client_hellos += 1;
                        self.end_decryption(findings);
                        self.mode = Mode::Skip;
                        &[]
                    }
                },
                Mode::Dns(framer) => {
                    framer.push(data, &mut |message| mine_dns_message(message, findings));
                    &[]
                }
                Mode::Skip | Mode::Tls | Mode::Done => &[],
            };
        }
    }

    /// Skips `len` bytes the capture lost.
    fn skip(&mut self, findings: &mut Findings, len: u64) {
        self.offset += len;
        self.after_gap = true;
        if let Some(decryption) = &mut self.decryption {
            decryption.session.client_gap(&mut findings.tls_decryption);
            self.end_decryption(findings);
        }
        self.mode = match std::mem::replace(&mut self.mode, Mode::Skip) {
            Mode::Head(buffer) => {
                self.take_cut_head(findings, &buffer);
                Mode::Skip
            }
            Mode::Body(left) if left > len => Mode::Body(left - len),
            Mode::Dns(mut framer) => {
                framer.reset();
                Mode::Dns(framer)
            }
            Mode::Done | Mode::Tls => Mode::Done,
            _ => Mode::Skip,
        };
    }

    /// Ends the stream and reports its connection.
    fn end(&mut self, findings: &mut Findings, ends: ConnectionEnds) {
        if let Some(decryption) = &mut self.decryption {
            decryption.session.finish(&mut findings.tls_decryption);
        }
        self.end_decryption(findings);
        self.end_of_stream(findings);
        findings.push(Finding::TcpConnection {
            client: ends.client,
            server: ends.server,
            first_packet: ends.first_packet,
        });
    }
}

impl Decryption {
    /// Reads decrypted application data, one chunk per record, as a client stream of its own.
    fn read_plaintext(&mut self, findings: &mut Findings, chunks: Vec<Vec<u8>>) {
        for chunk in chunks {
            self.plaintext.data(findings, &chunk);
        }
    }
}

impl ClientStream {
    /// Decides what begins at a message boundary and returns the bytes after what was consumed.
    fn boundary<'d>(
        &mut self,
        findings: &mut Findings,
        data: &'d [u8],
        chunk_start: u64,
    ) -> &'d [u8] {
        // Stray line ends between requests are common; they start nothing.
        let start = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let data = &data[start..];
        if data.is_empty() {
            return data;
        }
        if tls::starts_client_hello(data) {
            self.start_decryption(findings, data);
            self.mode = Mode::ClientHello(Box::default());
            return data;
        }
        if http::is_http2_preface(data) {
            self.mode = Mode::Done;
            return &[];
        }
        if !self.http_possible {
            self.mode = Mode::Skip;
            return &[];
        }
        let at_stream_start = chunk_start + start as u64 == 0;
        match http::parse_request_head(data, false) {
            HeadStatus::Complete { head, .. } if !self.accepts(&head) => {
                self.mode = Mode::Skip;
                &[]
            }
            HeadStatus::Complete { head, len } => {
                findings.push(Finding::HttpUri(http::request_uri(
                    &head,
                    self.server,
                    self.https,
                )));
                self.mode = body_mode(head.body);
                self.after_gap = false;
                &data[len..]
            }
            HeadStatus::Incomplete => {
                let room = self.head_room(findings, 0);
                if data.len() > room {
                    // No room to wait for the rest, so the head is parsed as this
                    // segment has it. The segment is in memory already, so the
                    // total budget does not shorten it, only the limit of one head.
                    findings.heads_cut += 1;
                    let cut = data.len().min(findings.stream_limits.max_head_len);
                    let body = self.take_cut_head(findings, &data[..cut]);
                    self.start_head_tail(body);
                    return &data[cut..];
                }
                self.head_searched = data.len();
                self.head_lines = data.iter().filter(|&&b| b == b'\n').count();
                self.mode = Mode::Head(data.to_vec());
                &[]
            }
            HeadStatus::NotHttp if self.dns_ports => {
                self.mode = Mode::Dns(Box::default());
                data
            }
            HeadStatus::NotHttp => {
                self.http_possible &= !at_stream_start;
                self.mode = Mode::Skip;
                &[]
            }
        }
    }

    /// Adds bytes to a head that spans segments, and parses it again once it may have changed.
    fn continue_head<'d>(&mut self, findings: &mut Findings, data: &'d [u8]) -> &'d [u8] {
        let Mode::Head(buffer) = &mut self.mode else {
            return data;
        };
        if tls::starts_client_hello(data) {
            // A plaintext line such as STARTTLS ended without headers; TLS begins here.
            let buffer = std::mem::take(buffer);
            self.take_cut_head(findings, &buffer);
            self.mode = Mode::Boundary;
            return data;
        }
        let head_starts_stream = self.offset - data.len() as u64 == buffer.len() as u64;
        let before = buffer.len();
        let room = self.head_room(findings, before);
        let full = data.len() > room;
        // A head that cannot wait for more is parsed now and then let go, so
        // it may take this segment's bytes up to the limit of one head even
        // when the total budget has less left.
        let limit = findings.stream_limits.max_head_len.saturating_sub(before);
        let added = if full {
            data.len().min(limit)
        } else {
            data.len()
        };
        let Mode::Head(buffer) = &mut self.mode else {
            return data;
        };
        buffer.extend_from_slice(&data[..added]);
        if full {
            findings.heads_cut += 1;
        }

        // Parsing again only when the head can have changed keeps a head sent
        // one byte per segment linear: after a new line end while the first
        // lines are still being judged, at the blank line, or at the limit.
        let new_lines = data[..added].iter().filter(|&&b| b == b'\n').count();
        self.head_lines += new_lines;
        let search_from = self.head_searched.saturating_sub(3);
        let ended = buffer[search_from..].windows(2).any(|pair| pair == b"\n\n")
            || buffer[search_from..]
                .windows(3)
                .any(|triple| triple == b"\n\r\n");
        self.head_searched = buffer.len();
        let judging_lines = new_lines > 0 && self.head_lines - new_lines < 3;
        if !(ended || full || judging_lines) {
            return &[];
        }

        let after_gap = self.after_gap;
        let (uri, body, head_len) = match http::parse_request_head(buffer, full) {
            HeadStatus::Complete { head, .. } if after_gap && !head.has_version => {
                (None, BodyFraming::None, 0)
            }
            HeadStatus::Complete { head, len } => (
                Some(http::request_uri(&head, self.server, self.https)),
                head.body,
                len,
            ),
            HeadStatus::Incomplete => return &[],
            HeadStatus::NotHttp => (None, BodyFraming::None, 0),
        };
        match uri {
            Some(uri) => {
                self.after_gap = false;
                findings.push(Finding::HttpUri(uri));
                if full && head_len >= before + added {
                    // Cut at the limit: skip the rest of the head, then its body.
                    self.start_head_tail(body);
                    return &data[added..];
                }
                self.mode = body_mode(body);
                // Bytes of this chunk after the head belong to the body or the next message.
                let used = head_len.saturating_sub(before).min(data.len());
                &data[used..]
            }
            None => {
                self.http_possible &= !head_starts_stream;
                self.mode = Mode::Skip;
                &[]
            }
        }
    }

    /// Skips what is left of a head cut at a limit; the stream then
    /// resynchronises only on request lines with a version.
    fn start_head_tail(&mut self, body: BodyFraming) {
        self.after_gap = true;
        self.mode = Mode::HeadTail { body, last: [0; 3] };
    }

    /// Consumes head bytes up to and including the blank line that ends the head.
    fn skip_head_tail<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let Mode::HeadTail { body, last } = &mut self.mode else {
            return data;
        };
        for (index, &byte) in data.iter().enumerate() {
            let ends =
                byte == b'\n' && (last[2] == b'\n' || (last[2] == b'\r' && last[1] == b'\n'));
            *last = [last[1], last[2], byte];
            if ends {
                let body = *body;
                self.mode = body_mode(body);
                return &data[index + 1..];
            }
        }
        &[]
    }

    /// Returns how many bytes a head of `held` bytes may still grow by, within
    /// this head's limit and what other streams leave of the total.
    fn head_room(&self, findings: &Findings, held: usize) -> usize {
        let limits = findings.stream_limits;
        let total_left = limits
            .max_total_head_bytes
            .saturating_sub(findings.buffered_head_bytes)
            + self.head_accounted;
        limits.max_head_len.min(total_left).saturating_sub(held)
    }

    /// Keeps `Findings::buffered_head_bytes` equal to the head bytes all streams hold.
    fn account_head(&mut self, findings: &mut Findings) {
        let held = match &self.mode {
            Mode::Head(buffer) => buffer.len(),
            _ => 0,
        };
        findings.buffered_head_bytes = findings.buffered_head_bytes - self.head_accounted + held;
        self.head_accounted = held;
    }

    /// Returns false for a versionless request line right after a gap.
    fn accepts(&self, head: &http::RequestHead<'_>) -> bool {
        head.has_version || !self.after_gap
    }

    /// Reports a head that a gap, a limit or the end of the connection cut short,
    /// if its request line is whole; returns the body framing of the headers seen.
    fn take_cut_head(&self, findings: &mut Findings, buffer: &[u8]) -> BodyFraming {
        let HeadStatus::Complete { head, .. } = http::parse_request_head(buffer, true) else {
            return BodyFraming::None;
        };
        if !self.accepts(&head) {
            return BodyFraming::None;
        }
        findings.push(Finding::HttpUri(http::request_uri(
            &head,
            self.server,
            self.https,
        )));
        head.body
    }

    /// Reports a request head that the end of the stream cut short.
    fn end_of_stream(&mut self, findings: &mut Findings) {
        if let Mode::Head(buffer) = std::mem::replace(&mut self.mode, Mode::Done) {
            self.take_cut_head(findings, &buffer);
        }
    }

    /// Starts decrypting at a ClientHello when a key log is set; `data` starts at its first byte.
    ///
    /// A decrypted stream starts no session of its own, and a stream decrypts
    /// at most one session: the bytes after the first ClientHello all belong to it.
    fn start_decryption(&mut self, findings: &mut Findings, data: &[u8]) {
        if self.https || self.decryption.is_some() {
            return;
        }
        let Some(key_log) = findings.key_log.clone() else {
            return;
        };
        let mut plaintext = ClientStream::new(self.server, self.server);
        plaintext.https = true;
        plaintext.dns_ports = false;
        self.decryption = Some(Box::new(Decryption {
            session: TlsSession::new(key_log),
            plaintext,
        }));
        // Later chunks reach the session at the top of `data`; this one starts mid-chunk.
        if let Some(decryption) = &mut self.decryption {
            let plaintext = decryption
                .session
                .client_data(data, &mut findings.tls_decryption);
            decryption.read_plaintext(findings, plaintext);
        }
        self.end_inactive_decryption(findings);
    }

    /// Drops a session that will decrypt nothing more, or whose plaintext
    /// can no longer hold a request (HTTP/2, or TLS inside TLS).
    fn end_inactive_decryption(&mut self, findings: &mut Findings) {
        if self.decryption.as_ref().is_some_and(|decryption| {
            !decryption.session.is_active() || !decryption.plaintext.wants_data()
        }) {
            self.end_decryption(findings);
        }
    }

    /// Ends decryption: the plaintext reader reports a request cut short, and
    /// the rest of the stream is left alone.
    fn end_decryption(&mut self, findings: &mut Findings) {
        let Some(mut decryption) = self.decryption.take() else {
            return;
        };
        decryption.plaintext.end_of_stream(findings);
        decryption.plaintext.account_head(findings);
        if matches!(self.mode, Mode::Tls) {
            self.mode = Mode::Done;
        }
    }

    fn report_server_names(&self, findings: &mut Findings, names: &[Vec<u8>]) {
        for name in names {
            let mut escaped = String::with_capacity(name.len());
            tls::write_escaped_name(name, &mut escaped);
            findings.push(Finding::ServerName {
                name: escaped,
                port: self.server.port(),
            });
        }
    }
}

fn body_mode(body: BodyFraming) -> Mode {
    match body {
        BodyFraming::None => Mode::Boundary,
        BodyFraming::ContentLength(len) => Mode::Body(len),
        BodyFraming::Chunked => Mode::Chunked(ChunkState::start()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(findings: &mut Findings) -> Vec<String> {
        findings
            .drain()
            .filter_map(|finding| match finding {
                Finding::HttpUri(uri) => Some(uri),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn stream_after_gap_needs_versioned_request() {
        let client: SocketAddr = "10.0.0.2:50000".parse().unwrap();
        let server: SocketAddr = "192.0.2.80:80".parse().unwrap();
        let mut stream = ClientStream::new(client, server);
        let mut findings = Findings::default();

        stream.data(&mut findings, b"GET /a HTTP/1.1\r\nHost: h\r\nX-Long: ");
        stream.gap(&mut findings, 100);
        // Lost header lines end here; the rest looks like a request of method "evil.example".
        stream.data(&mut findings, b"evil.example\r\nContent-Length: 0\r\n\r\n");
        stream.data(&mut findings, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        stream.data(&mut findings, b"OPTIONS\r\nHost: h\r\n\r\n");

        assert_eq!(
            uris(&mut findings),
            ["http://h/a", "http://h/b", "http://h"]
        );
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn stream() -> ClientStream {
        let client: SocketAddr = "10.0.0.2:50000".parse().unwrap();
        let server: SocketAddr = "192.0.2.80:80".parse().unwrap();
        ClientStream::new(client, server)
    }

    #[test]
    fn head_limit_per_stream_cuts_head() {
        let mut findings = Findings::new(
            None,
            StreamLimits {
                max_head_len: 64,
                max_total_head_bytes: 1 << 20,
                ..StreamLimits::default()
            },
        );
        let mut one = stream();
        one.data(&mut findings, b"GET /long HTTP/1.1\r\nHost: h\r\n");
        one.data(&mut findings, &[b'a'; 100]);
        assert_eq!(findings.heads_cut, 1);
        assert_eq!(findings.buffered_head_bytes, 0);
        let uris: Vec<_> = findings.drain().collect();
        assert_eq!(uris, [Finding::HttpUri("http://h/long".into())]);
    }

    #[test]
    fn head_cut_at_limit_skips_rest_and_body() {
        let limits = StreamLimits {
            max_head_len: 64,
            max_total_head_bytes: 1 << 20,
            ..StreamLimits::default()
        };
        let mut findings = Findings::new(None, limits);
        let mut one = stream();
        one.data(
            &mut findings,
            b"POST /up HTTP/1.1\r\nHost: real.example\r\nContent-Length: 34\r\nX-Pad: ",
        );
        one.data(&mut findings, &[b'a'; 100]);
        // A later segment starts like a request inside the head, and the body contains one.
        one.data(&mut findings, b"b\r\nHost: spoofed.example\r\n\r\n");
        one.data(&mut findings, b"GET /in-body HTTP/1.1\r\nHost: x\r\n\r\n");
        one.data(
            &mut findings,
            b"GET /next HTTP/1.1\r\nHost: real.example\r\n\r\n",
        );
        let uris: Vec<_> = findings.drain().collect();
        assert_eq!(
            uris,
            [
                Finding::HttpUri("http://real.example/up".into()),
                Finding::HttpUri("http://real.example/next".into())
            ]
        );
    }

    #[test]
    fn head_one_byte_per_segment_reads_once() {
        let mut findings = Findings::default();
        let mut one = stream();
        let head = b"GET /slow HTTP/1.1\r\nHost: slow.example\r\nX-A: b\r\n\r\n";
        for byte in head.chunks(1) {
            one.data(&mut findings, byte);
        }
        let uris: Vec<_> = findings.drain().collect();
        assert_eq!(uris, [Finding::HttpUri("http://slow.example/slow".into())]);
    }

    #[test]
    fn head_limit_across_streams_counts_every_byte() {
        let limits = StreamLimits {
            max_head_len: 1 << 10,
            max_total_head_bytes: 100,
            ..StreamLimits::default()
        };
        let mut findings = Findings::new(None, limits);
        let mut first = stream();
        let mut second = stream();
        first.data(
            &mut findings,
            b"GET /first HTTP/1.1\r\nX-Pad: 0123456789012345678901234567890123456789\r\n",
        );
        assert_eq!(findings.buffered_head_bytes, 70);
        // Only 30 bytes of the total are left, so the second head is parsed as
        // this segment has it, Host line included, and not kept.
        second.data(
            &mut findings,
            b"GET /second HTTP/1.1\r\nX-Pad: 01234567890123456789\r\nHost: two\r\n",
        );
        assert_eq!(findings.heads_cut, 1);
        assert_eq!(findings.buffered_head_bytes, 70);
        first.data(&mut findings, b"Host: one\r\n\r\n");
        assert_eq!(findings.buffered_head_bytes, 0);
        let uris: Vec<_> = findings.drain().collect();
        assert_eq!(
            uris,
            [
                Finding::HttpUri("http://two/second".into()),
                Finding::HttpUri("http://one/first".into())
            ]
        );
    }

    #[test]
    fn head_budget_spent_still_reads_segment() {
        let limits = StreamLimits {
            max_head_len: 1 << 10,
            max_total_head_bytes: 64,
            ..StreamLimits::default()
        };
        let mut findings = Findings::new(None, limits);
        let mut first = stream();
        first.data(
            &mut findings,
            b"GET /first HTTP/1.1\r\nX-Pad: 0123456789\r\n",
        );
        assert_eq!(findings.buffered_head_bytes, 40);

        // 24 bytes are left, fewer than the second head has in its segment.
        let mut second = stream();
        second.data(&mut findings, b"GET /second HTTP/1.1\r\nHost: two\r\n");
        assert_eq!(findings.buffered_head_bytes, 40);

        // The budget runs out inside a head that spans segments.
        let mut third = stream();
        third.data(&mut findings, b"GET /third HTTP/1.1\r\n");
        assert_eq!(findings.buffered_head_bytes, 61);
        third.data(
            &mut findings,
            b"Host: three\r\nX-Pad: 0123456789012345678901234567890\r\n",
        );
        assert_eq!(findings.buffered_head_bytes, 40);

        first.data(&mut findings, b"Host: one\r\n\r\n");
        assert_eq!(findings.buffered_head_bytes, 0);
        let uris: Vec<_> = findings.drain().collect();
        assert_eq!(
            uris,
            [
                Finding::HttpUri("http://two/second".into()),
                Finding::HttpUri("http://three/third".into()),
                Finding::HttpUri("http://one/first".into())
            ]
        );
    }
}
