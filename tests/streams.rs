//! Stream reassembly properties through the whole miner: the order, size and
//! duplication of a connection's segments do not change what is mined, and
//! where copies of the same bytes differ, the copy received first wins.
//!
//! Schedules come from a seeded xorshift, so a failure names the seed that reproduces it.

use std::collections::BTreeMap;
use std::path::Path;

use pcap_miner::{mine_reader, Config, MineReport};

use crate::pcapgen::{
    addr, client_hello, dns_over_tcp, dns_query, expected_values, frames, pcap, tls_records,
    values_of, Endian, Precision, TcpConnection, LINKTYPE_ETHERNET,
};

/// A small deterministic generator, so failures reproduce without extra crates.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Spread small seeds over the state; xorshift must not start at zero.
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Returns a number in `low..=high`.
    fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next() % (high - low + 1) as u64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next() % one_in == 0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i);
            items.swap(i, j);
        }
    }
}

/// One connection of the set: its segments come from `stream`.
struct Conn {
    connection: TcpConnection,
    stream: Vec<u8>,
    /// Whether upper-cased copies of its bytes keep the stream well-formed,
    /// so they may stand in as retransmissions with different bytes.
    case_tolerant: bool,
}

fn http_stream() -> Vec<u8> {
    let body = b"GET /hidden-in-body HTTP/1.1\r\nHost: body.example\r\n\r\n";
    let chunk = b"GET /hidden-in-chunk HTTP/1.1\r\nHost: chunk.example\r\n\r\n";
    let mut stream = Vec::new();
    stream.extend_from_slice(b"GET /a?id=1 HTTP/1.1\r\nHost: h.example:8080\r\n\r\n");
    stream.extend_from_slice(
        format!(
            "POST /b HTTP/1.1\r\nHost: h.example:8080\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    stream.extend_from_slice(body);
    stream.extend_from_slice(
        b"PUT /c HTTP/1.1\r\nHost: h.example:8080\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    stream.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
    stream.extend_from_slice(chunk);
    stream.extend_from_slice(b"\r\n5\r\nabcde\r\n0\r\n\r\n");
    stream.extend_from_slice(b"GET /d HTTP/1.0\r\nHost: h.example:8080\r\n\r\n");
    stream
}

fn dns_stream() -> Vec<u8> {
    let mut stream = dns_over_tcp(&dns_query(0x0101, &["one.example.test"]));
    stream.extend(dns_over_tcp(&dns_query(
        0x0202,
        &["two.example.test", "three.example.test"],
    )));
    stream.extend(dns_over_tcp(&dns_query(0x0303, &["four.example.test"])));
    stream
}

/// HTTP with pipelined requests and bodies that hold request-like text, two
/// ClientHellos split over many records, and three DNS messages over TCP.
fn connection_set() -> Vec<Conn> {
    vec![
        Conn {
            connection: TcpConnection::new(addr("10.0.0.7:50000"), addr("192.0.2.80:8080")),
            stream: http_stream(),
            case_tolerant: true,
        },
        Conn {
            connection: TcpConnection::new(
                addr("[2001:db8::7]:50001"),
                addr("[2001:db8::443]:443"),
            ),
            stream: tls_records(&client_hello("sni.example.test"), 50),
            case_tolerant: false,
        },
        Conn {
            connection: TcpConnection::new(addr("10.0.0.7:50002"), addr("192.0.2.44:8443")),
            stream: tls_records(&client_hello("alt.example.test"), 7),
            case_tolerant: false,
        },
        Conn {
            connection: TcpConnection::new(addr("10.0.0.7:50003"), addr("192.0.2.53:53")),
            stream: dns_stream(),
            case_tolerant: true,
        },
    ]
}

const SET_EXPECTED: [(&str, &[&str]); 4] = [
    (
        "network-dns",
        &[
            "four.example.test",
            "one.example.test",
            "three.example.test",
            "two.example.test",
        ],
    ),
    (
        "network-http",
        &[
            "http://h.example:8080/a?id=1",
            "http://h.example:8080/b",
            "http://h.example:8080/c",
            "http://h.example:8080/d",
        ],
    ),
    (
        "network-sni",
        &["alt.example.test:8443", "sni.example.test:443"],
    ),
    (
        "network-tcp",
        &[
            "192.0.2.44:8443",
            "192.0.2.53:53",
            "192.0.2.80:8080",
            "[2001:db8::443]:443",
        ],
    ),
];

fn mine_packets(packets: &[Vec<u8>]) -> MineReport {
    let frames = frames(LINKTYPE_ETHERNET, packets);
    let capture = pcap(LINKTYPE_ETHERNET, Endian::Little, Precision::Micro, &frames);
    let config = Config {
        max_results: None,
        ..Config::default()
    };
    mine_reader(&capture.bytes[..], Path::new("streams.pcap"), &config)
        .unwrap_or_else(|partial| panic!("{}", partial.error))
}

/// How a schedule cuts, copies and orders a connection's bytes.
#[derive(Debug, Clone, Copy)]
struct Plan {
    max_segment: usize,
    duplicates: bool,
    altered_copies: bool,
}

/// A client segment: stream offset and bytes.
type Piece = (usize, Vec<u8>);

/// Cuts, copies and shuffles one stream; returns the pieces in sending order.
fn plan_pieces(rng: &mut XorShift, conn: &Conn, plan: Plan) -> Vec<Piece> {
    let stream = &conn.stream;
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let len = rng.range(1, plan.max_segment).min(stream.len() - at);
        pieces.push((at, stream[at..at + len].to_vec()));
        at += len;
    }

    let mut extra = Vec::new();
    if plan.duplicates {
        for piece in &pieces {
            if rng.chance(4) {
                extra.push(piece.clone());
            }
        }
        // Copies that straddle segment boundaries, with the same bytes.
        for _ in 0..rng.range(0, 4) {
            let start = rng.range(0, stream.len() - 1);
            let end = rng.range(start + 1, stream.len().min(start + 3 * plan.max_segment));
            extra.push((start, stream[start..end].to_vec()));
        }
    }
    if plan.altered_copies && conn.case_tolerant {
        for _ in 0..rng.range(1, 6) {
            let start = rng.range(0, stream.len() - 1);
            let end = rng.range(start + 1, stream.len().min(start + 40));
            extra.push((start, stream[start..end].to_ascii_uppercase()));
        }
    }
    pieces.extend(extra);
    rng.shuffle(&mut pieces);
    pieces
}

/// Returns the stream the receiver should see: each byte from the first piece that carried it.
fn first_arrival(stream_len: usize, pieces: &[Piece]) -> Vec<u8> {
    let mut bytes: Vec<Option<u8>> = vec![None; stream_len];
    for (start, data) in pieces {
        for (i, &byte) in data.iter().enumerate() {
            bytes[start + i].get_or_insert(byte);
        }
    }
    bytes.into_iter().map(|b| b.unwrap()).collect()
}

/// Returns one connection's packets: handshake, the pieces, sometimes a
/// retransmitted SYN among them, and the FIN.
fn connection_packets(rng: &mut XorShift, conn: &Conn, pieces: &[Piece]) -> Vec<Vec<u8>> {
    let connection = &conn.connection;
    let mut data: Vec<Vec<u8>> = pieces
        .iter()
        .map(|(offset, bytes)| connection.client_data(*offset, bytes))
        .collect();
    if rng.chance(3) {
        let at = rng.range(0, data.len());
        data.insert(at, connection.syn());
    }
    let mut packets = connection.handshake();
    packets.extend(data);
    packets.push(connection.client_fin(conn.stream.len()));
    packets
}

/// Merges the connections' packet lists in a random order that keeps each list's own order.
fn interleave(rng: &mut XorShift, mut lists: Vec<Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    for list in &mut lists {
        list.reverse();
    }
    let mut merged = Vec::new();
    loop {
        let open: Vec<usize> = (0..lists.len()).filter(|&i| !lists[i].is_empty()).collect();
        if open.is_empty() {
            return merged;
        }
        let pick = open[rng.range(0, open.len() - 1)];
        merged.push(lists[pick].pop().unwrap());
    }
}

/// Builds the packets of one schedule and the stream each connection should deliver.
fn schedule(seed: u64, conns: &[Conn], plan: Plan) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut rng = XorShift::new(seed);
    let mut lists = Vec::new();
    let mut delivered = Vec::new();
    for conn in conns {
        let pieces = plan_pieces(&mut rng, conn, plan);
        delivered.push(first_arrival(conn.stream.len(), &pieces));
        lists.push(connection_packets(&mut rng, conn, &pieces));
    }
    (interleave(&mut rng, lists), delivered)
}

/// Returns the packets of every connection sent in order, each stream in one segment.
fn in_order(conns: &[Conn], streams: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    for (conn, stream) in conns.iter().zip(streams) {
        packets.extend(conn.connection.exchange(stream, stream.len(), &[]));
    }
    packets
}

#[test]
fn connection_set_in_order() {
    let conns = connection_set();
    let streams: Vec<Vec<u8>> = conns.iter().map(|c| c.stream.clone()).collect();
    let report = mine_packets(&in_order(&conns, &streams));
    assert_eq!(
        values_of(&report.indicators),
        expected_values(&SET_EXPECTED)
    );
}

#[test]
fn segment_order_size_and_copies_ignored() {
    let conns = connection_set();
    let expected = expected_values(&SET_EXPECTED);
    for seed in 1..=150u64 {
        let plan = Plan {
            max_segment: [3, 64, 600][(seed % 3) as usize],
            duplicates: seed % 2 == 0,
            altered_copies: false,
        };
        let (packets, _) = schedule(seed, &conns, plan);
        let report = mine_packets(&packets);
        assert_eq!(
            values_of(&report.indicators),
            expected,
            "seed {seed}, {plan:?}"
        );
        let flows = report.stats.flows;
        assert_eq!(flows.connections, 4, "seed {seed}: connections");
        assert_eq!(flows.stream_gaps, 0, "seed {seed}: gaps");
        assert_eq!(
            flows.inconsistent_retransmissions, 0,
            "seed {seed}: same-byte copies counted as inconsistent"
        );
    }
}

#[test]
fn one_byte_segments_reversed() {
    let conns = connection_set();
    let mut lists = Vec::new();
    for conn in &conns {
        let mut packets = conn.connection.handshake();
        let mut data = conn.connection.client_segments(&conn.stream, 1);
        data.reverse();
        packets.extend(data);
        packets.push(conn.connection.client_fin(conn.stream.len()));
        lists.push(packets);
    }
    let report = mine_packets(&lists.concat());
    assert_eq!(
        values_of(&report.indicators),
        expected_values(&SET_EXPECTED)
    );
}

#[test]
fn differing_copies_first_received_wins() {
    let conns = connection_set();
    for seed in 1..=150u64 {
        let plan = Plan {
            max_segment: [5, 64][(seed % 2) as usize],
            duplicates: true,
            altered_copies: true,
        };
        let (packets, delivered) = schedule(seed, &conns, plan);
        let mined = mine_packets(&packets);
        let model = mine_packets(&in_order(&conns, &delivered));
        assert_eq!(
            values_of(&mined.indicators),
            values_of(&model.indicators),
            "seed {seed}, {plan:?}"
        );
    }
}

const FIRST: &[u8] = b"GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n";
const OTHER: &[u8] = b"GET /other HTTP/1.1\r\nHost: b.example\r\n\r\n";

/// Sends `FIRST` and `OTHER` as overlapping copies of stream bytes 4.., in the
/// given order, then the first 4 bytes when `hole` is set (so both copies wait
/// behind a hole) or before them otherwise.
fn overlap_report(copies: [&[u8]; 2], hole: bool) -> MineReport {
    let connection = TcpConnection::new(addr("10.0.0.8:50100"), addr("192.0.2.81:80"));
    let mut packets = connection.handshake();
    let head = connection.client_data(0, &FIRST[..4]);
    if !hole {
        packets.push(head.clone());
    }
    for copy in copies {
        packets.push(connection.client_data(4, &copy[4..]));
    }
    if hole {
        packets.push(head);
    }
    packets.push(connection.client_fin(FIRST.len()));
    mine_packets(&packets)
}

fn http_values(report: &MineReport) -> BTreeMap<String, Vec<String>> {
    let mut values = values_of(&report.indicators);
    values.remove("network-tcp");
    values
}

#[test]
fn overlap_behind_hole_first_wins() {
    let report = overlap_report([FIRST, OTHER], true);
    let expected = expected_values(&[("network-http", &["http://a.example/first"])]);
    assert_eq!(http_values(&report), expected);
    assert_eq!(report.stats.flows.inconsistent_retransmissions, 1);

    let report = overlap_report([OTHER, FIRST], true);
    let expected = expected_values(&[("network-http", &["http://b.example/other"])]);
    assert_eq!(http_values(&report), expected);
    assert_eq!(report.stats.flows.inconsistent_retransmissions, 1);
}

#[test]
fn overlap_after_delivery_first_wins() {
    let report = overlap_report([FIRST, OTHER], false);
    let expected = expected_values(&[("network-http", &["http://a.example/first"])]);
    assert_eq!(http_values(&report), expected);

    let report = overlap_report([OTHER, FIRST], false);
    let expected = expected_values(&[("network-http", &["http://b.example/other"])]);
    assert_eq!(http_values(&report), expected);
}
