//! Initial packets from the published test vectors of RFC 9001 and RFC 9369,
//! and packets the tests protect themselves.

use aes_gcm::aead::AeadInPlace;

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

const DCID: &str = "8394c8f03e515708";

/// The CRYPTO frame of the client's Initial in RFC 9001 appendix A.2 and
/// RFC 9369 appendix A.2: a ClientHello for example.com.
const CLIENT_CRYPTO_FRAME: &str = "
    060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
    04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
    616d706c652e636f6dff01000100000a00080006001d00170018001000070005
    04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
    baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
    0d0010000e0403050306030203080408050806002d00020101001c0002400100
    3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
    75300901100f088394c8f03e51570806048000ffff";

/// The payload is padded to this length with PADDING frames.
const CLIENT_PAYLOAD_LEN: usize = 1162;

/// Protects a packet as a sender does: encrypts the payload, then masks the
/// header with a sample of the ciphertext. `header` ends with a 4-byte
/// packet number.
fn protect(keys: &InitialKeys, header: &[u8], payload: &[u8], packet_number: u64) -> Vec<u8> {
    let number_offset = header.len() - 4;
    let nonce = sequence_nonce(&keys.iv, packet_number);
    let mut ciphertext = payload.to_vec();
    let Aead::Aes128Gcm(aead) = &keys.aead else {
        unreachable!("Initial keys are AES-128-GCM")
    };
    let tag = aead
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), header, &mut ciphertext)
        .unwrap();
    ciphertext.extend_from_slice(&tag);

    let mask = keys.mask(&ciphertext[..SAMPLE_LEN]);
    let mut packet = header.to_vec();
    packet[0] ^= mask[0] & 0x0f;
    for index in 0..4 {
        packet[number_offset + index] ^= mask[1 + index];
    }
    packet.extend_from_slice(&ciphertext);
    packet
}

fn padded(frames: &[u8], len: usize) -> Vec<u8> {
    let mut payload = frames.to_vec();
    payload.resize(len, 0);
    payload
}

/// Builds the long header of a client Initial: no token, the given packet number in 4 bytes.
fn initial_header(
    version: QuicVersion,
    dcid: &[u8],
    payload_len: usize,
    packet_number: u32,
) -> Vec<u8> {
    let (first_byte, version_bytes): (u8, [u8; 4]) = match version {
        QuicVersion::V1 => (0xc3, [0, 0, 0, 1]),
        QuicVersion::V2 => (0xd3, [0x6b, 0x33, 0x43, 0xcf]),
        QuicVersion::Draft29 => (0xc3, [0xff, 0, 0, 0x1d]),
    };
    let mut header = vec![first_byte];
    header.extend_from_slice(&version_bytes);
    header.push(dcid.len() as u8);
    header.extend_from_slice(dcid);
    header.extend_from_slice(&[0, 0]); // empty SCID and token
    let length = (payload_len + 4 + 16) as u16 | 0x4000;
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&packet_number.to_be_bytes());
    header
}

fn names(found: &[Vec<u8>]) -> Vec<String> {
    found
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

#[test]
fn rfc9001_client_initial_protected_and_read() {
    let keys = InitialKeys::client(QuicVersion::V1, &hex(DCID)).unwrap();
    let header = hex("c300000001088394c8f03e5157080000449e00000002");
    let payload = padded(&hex(CLIENT_CRYPTO_FRAME), CLIENT_PAYLOAD_LEN);

    let packet = protect(&keys, &header, &payload, 2);

    // RFC 9001 appendix A.2: sample, mask, and the first and last bytes of the 1200-byte packet.
    assert_eq!(packet.len(), 1200);
    assert_eq!(packet[22..38], hex("d1b1c98dd7689fb8ec11d242b123dc9b"));
    assert_eq!(keys.mask(&packet[22..38])[..5], hex("437b9aec36"));
    assert!(packet.starts_with(&hex(
        "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    )));
    assert!(packet.ends_with(&hex(
        "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241
         e221af44860018ab0856972e194cd934"
    )));

    let mut initials = QuicInitials::default();
    let found = initials.datagram(address("10.0.0.2:50000"), address("192.0.2.1:443"), &packet);
    assert_eq!(names(&found), ["example.com"]);
    assert_eq!(initials.stats.initial_packets, 1);
    assert_eq!(initials.stats.client_hellos, 1);
}

#[test]
fn rfc9001_server_initial_decrypted() {
    // RFC 9001 appendix A.3: the server's Initial, protected with keys from the client's DCID.
    let keys = InitialKeys::derive(QuicVersion::V1, &hex(DCID), b"server in").unwrap();
    let packet = hex(
        "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
         5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
         dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
         022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
         2158407dd074ee",
    );
    let header = read_long_header(&packet).unwrap();
    assert_eq!(header.packet_type, PacketType::Initial);
    assert_eq!(header.packet_len, packet.len());

    let (packet_number, payload) = keys
        .open(&packet, header.packet_number_offset, None)
        .unwrap();

    assert_eq!(packet_number, 1);
    assert_eq!(
        payload,
        hex(
            "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739
             88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94
             0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00
             020304"
        )
    );
    // The server's packet is not a client Initial: nothing is reported.
    let mut initials = QuicInitials::default();
    assert!(initials
        .datagram(address("192.0.2.1:443"), address("10.0.0.2:50000"), &packet)
        .is_empty());
    assert_eq!(initials.stats.initial_packets, 0);
}

#[test]
fn rfc9369_v2_client_initial_protected_and_read() {
    let keys = InitialKeys::client(QuicVersion::V2, &hex(DCID)).unwrap();
    let header = hex("d36b3343cf088394c8f03e5157080000449e00000002");
    let payload = padded(&hex(CLIENT_CRYPTO_FRAME), CLIENT_PAYLOAD_LEN);

    let packet = protect(&keys, &header, &payload, 2);

    // RFC 9369 appendix A.2.
    assert_eq!(packet[22..38], hex("ffe67b6abcdb4298b485dd04de806071"));
    assert_eq!(keys.mask(&packet[22..38])[..5], hex("94a0c95e80"));
    assert!(packet.starts_with(&hex(
        "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    )));
    assert!(packet.ends_with(&hex(
        "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19
         9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b
         a18b2faa745b6fe189cf772a9f84cbfc"
    )));

    let mut initials = QuicInitials::default();
    let found = initials.datagram(
        address("[2001:db8::2]:50000"),
        address("[2001:db8::1]:8443"),
        &packet,
    );
    assert_eq!(names(&found), ["example.com"]);
}

#[test]
fn draft29_initial_read() {
    let dcid = hex("0011223344556677");
    let keys = InitialKeys::client(QuicVersion::Draft29, &dcid).unwrap();
    let payload = padded(&hex(CLIENT_CRYPTO_FRAME), 1000);
    let packet = protect(
        &keys,
        &initial_header(QuicVersion::Draft29, &dcid, payload.len(), 0),
        &payload,
        0,
    );

    let mut initials = QuicInitials::default();
    let found = initials.datagram(
        address("10.0.0.2:50000"),
        address("192.0.2.1:4433"),
        &packet,
    );

    assert_eq!(names(&found), ["example.com"]);
}

/// Builds a CRYPTO frame carrying `data` at `offset`, with two-byte varints.
fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x06];
    frame.extend_from_slice(&(offset as u16 | 0x4000).to_be_bytes());
    frame.extend_from_slice(&(data.len() as u16 | 0x4000).to_be_bytes());
    frame.extend_from_slice(data);
    frame
}

/// Returns the ClientHello handshake message inside the RFC's CRYPTO frame.
fn client_hello_message() -> Vec<u8> {
    hex(CLIENT_CRYPTO_FRAME)[4..].to_vec()
}

#[test]
fn crypto_frames_joined_across_packets_out_of_order() {
    let dcid = hex("a1a2a3a4a5a6a7a8");
    let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
    let hello = client_hello_message();
    let (first, second) = hello.split_at(100);
    let (middle, last) = second.split_at(50);

    // Packet 0: the end of the hello, then PING, then the start; packet 1: the middle, after an ACK.
    let frames_0 = [crypto_frame(150, last), vec![0x01], crypto_frame(0, first)].concat();
    let frames_1 = [
        vec![0x02, 0x00, 0x00, 0x00, 0x00],
        crypto_frame(100, middle),
    ]
    .concat();
    let payload_0 = padded(&frames_0, 1100);
    let payload_1 = padded(&frames_1, 1100);
    let packet_0 = protect(
        &keys,
        &initial_header(QuicVersion::V1, &dcid, 1100, 0),
        &payload_0,
        0,
    );
    let packet_1 = protect(
        &keys,
        &initial_header(QuicVersion::V1, &dcid, 1100, 1),
        &payload_1,
        1,
    );

    let client = address("10.0.0.2:50000");
    let server = address("192.0.2.1:443");
    let mut initials = QuicInitials::default();
    // The second packet arrives first.
    assert!(initials.datagram(client, server, &packet_1).is_empty());
    assert_eq!(
        names(&initials.datagram(client, server, &packet_0)),
        ["example.com"]
    );
    assert_eq!(initials.stats.initial_packets, 2);
    assert_eq!(initials.stats.client_hellos, 1);

    // A retransmission of a packet already read reports nothing new.
    assert!(initials.datagram(client, server, &packet_0).is_empty());
    assert_eq!(initials.stats.client_hellos, 1);
}

#[test]
fn coalesced_packets_read_in_turn() {
    let dcid = hex("b1b2b3b4");
    let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
    let hello = client_hello_message();
    let (first, second) = hello.split_at(120);
    let payload_0 = padded(&crypto_frame(0, first), 200);
    let payload_1 = padded(&crypto_frame(120, second), 400);
    let packet_0 = protect(
        &keys,
        &initial_header(QuicVersion::V1, &dcid, 200, 0),
        &payload_0,
        0,
    );
    let packet_1 = protect(
        &keys,
        &initial_header(QuicVersion::V1, &dcid, 400, 1),
        &payload_1,
        1,
    );
    // A Handshake packet (type 2) that cannot be decrypted with Initial keys, then a short header packet.
    let mut handshake = initial_header(QuicVersion::V1, &dcid, 30, 0);
    handshake[0] = 0xe3;
    handshake.remove(7 + dcid.len()); // Handshake packets have no token length.
    handshake.extend_from_slice(&[0x55; 46]);
    let datagram = [packet_0, handshake, packet_1, vec![0x40, 1, 2, 3]].concat();

    let mut initials = QuicInitials::default();
    let found = initials.datagram(
        address("10.0.0.2:50000"),
        address("192.0.2.1:443"),
        &datagram,
    );

    assert_eq!(names(&found), ["example.com"]);
    assert_eq!(initials.stats.initial_packets, 2);
}

#[test]
fn later_initial_keeps_first_keys() {
    let dcid = hex("c1c2c3c4c5c6c7c8");
    let server_id = hex("5e5e5e5e");
    let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
    let hello = client_hello_message();
    let (first, second) = hello.split_at(90);
    let payload_0 = padded(&crypto_frame(0, first), 1100);
    let payload_1 = padded(&crypto_frame(90, second), 1100);
    let packet_0 = protect(
        &keys,
        &initial_header(QuicVersion::V1, &dcid, 1100, 0),
        &payload_0,
        0,
    );
    // After the server's reply the client addresses the server's ID, with the same keys.
    let packet_1 = protect(
        &keys,
        &initial_header(QuicVersion::V1, &server_id, 1100, 1),
        &payload_1,
        1,
    );

    let client = address("10.0.0.2:50000");
    let server = address("192.0.2.1:443");
    let mut initials = QuicInitials::default();
    assert!(initials.datagram(client, server, &packet_0).is_empty());
    let found = initials.datagram(client, server, &packet_1);

    assert_eq!(names(&found), ["example.com"]);
}

#[test]
fn malformed_crypto_stream_counted() {
    let dcid = hex("d1d2d3d4");
    let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
    // A ServerHello (type 2) where a ClientHello belongs.
    let payload = padded(&crypto_frame(0, &[2, 0, 0, 4, 1, 2, 3, 4]), 300);
    let packet = protect(
        &keys,
        &initial_header(QuicVersion::V1, &dcid, 300, 0),
        &payload,
        0,
    );

    let mut initials = QuicInitials::default();
    assert!(initials
        .datagram(address("10.0.0.2:50000"), address("192.0.2.1:443"), &packet)
        .is_empty());
    assert_eq!(initials.stats.malformed_client_hellos, 1);
}

/// Opens `count` connections whose ClientHellos stay incomplete.
fn open_incomplete(initials: &mut QuicInitials, count: usize) {
    let server = address("192.0.2.1:443");
    let hello = client_hello_message();
    for index in 0..count {
        let dcid = (index as u64).to_be_bytes().to_vec();
        let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
        // Only the first part of the hello: every connection stays incomplete.
        let payload = padded(&crypto_frame(0, &hello[..50]), 100);
        let packet = protect(
            &keys,
            &initial_header(QuicVersion::V1, &dcid, 100, 0),
            &payload,
            0,
        );
        let client = SocketAddr::new(address("10.0.0.2:1").ip(), 1024 + index as u16);
        initials.datagram(client, server, &packet);
    }
}

#[test]
fn connection_table_bounded() {
    let mut initials = QuicInitials::default();
    open_incomplete(&mut initials, MAX_CONNECTIONS + 3);

    assert_eq!(initials.connections.len(), MAX_CONNECTIONS);
    assert_eq!(initials.stats.evicted_connections, 3);
}

#[test]
fn connection_table_custom_limit() {
    let mut initials = QuicInitials::with_max_connections(10);
    open_incomplete(&mut initials, 14);

    assert_eq!(initials.connections.len(), 10);
    assert_eq!(initials.stats.evicted_connections, 4);
}

#[test]
fn packet_number_decoding_follows_rfc9000() {
    // RFC 9000 appendix A.3 example.
    assert_eq!(
        decode_packet_number(Some(0xa82f30ea), 0x9b32, 16),
        0xa82f9b32
    );
    assert_eq!(decode_packet_number(None, 0, 8), 0);
    assert_eq!(decode_packet_number(Some(0xff), 0x01, 8), 0x101);
    assert_eq!(decode_packet_number(Some(5), 3, 8), 3);
}

#[test]
fn other_datagrams_ignored() {
    let mut initials = QuicInitials::default();
    let client = address("10.0.0.2:50000");
    let server = address("192.0.2.1:443");
    let cases: [&[u8]; 6] = [
        b"",
        b"\x40short header",
        b"\xc0\x00\x00\x00\x00version negotiation",
        b"\xc0\x0a\x0a\x0a\x0aunknown version",
        &hex("c00000000108"),
        &hex("c000000001ff"),
    ];
    for case in cases {
        assert!(
            initials.datagram(client, server, case).is_empty(),
            "{case:?}"
        );
    }
    assert_eq!(initials.stats, QuicStats::default());
}

#[test]
fn random_input_never_panics() {
    let dcid = hex(DCID);
    let keys = InitialKeys::client(QuicVersion::V1, &dcid).unwrap();
    let header = hex("c300000001088394c8f03e5157080000449e00000002");
    let payload = padded(&hex(CLIENT_CRYPTO_FRAME), CLIENT_PAYLOAD_LEN);
    let valid = protect(&keys, &header, &payload, 2);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };

    let mut initials = QuicInitials::default();
    for round in 0..2000u16 {
        let mut input = valid.clone();
        let cut = (next() % input.len() as u64) as usize;
        match round % 3 {
            0 => input.truncate(cut),
            1 => {
                for _ in 0..4 {
                    let index = (next() % input.len() as u64) as usize;
                    input[index] = next() as u8;
                }
            }
            _ => {}
        }
        let client = SocketAddr::new(address("10.0.0.2:1").ip(), round);
        initials.datagram(client, address("192.0.2.1:443"), &input);
    }
    // The intact third of the packets still decrypt next to the damaged ones.
    assert!(initials.stats.initial_packets >= 666);
}

#[test]
fn crypto_ranges_merge_in_any_order() {
    let mut stream = CryptoStream::default();
    for &(offset, bytes) in &[
        (10usize, &b"kl"[..]),
        (0, b"ab"),
        (4, b"ef"),
        (2, b"cd"),
        (6, b"ghij"),
    ] {
        stream.insert(offset as u64, bytes);
    }
    assert_eq!(stream.ranges, [(0, 12)]);
    assert_eq!(stream.contiguous_len(), 12);
    assert_eq!(&stream.data, b"abcdefghijkl");
}

#[test]
fn crypto_frame_far_past_joined_part_dropped() {
    let mut stream = CryptoStream::default();
    stream.insert(65_535, b"x");
    assert!(stream.data.is_empty());
    assert!(stream.ranges.is_empty());
}

#[test]
fn crypto_ranges_capped() {
    let mut stream = CryptoStream::default();
    for index in 0..1_000u64 {
        stream.insert(1 + index * 2, b"y");
    }
    assert_eq!(stream.ranges.len(), MAX_CRYPTO_RANGES);
}
