//! Properties of pcap-miner, each a function of arbitrary bytes that panics
//! when the property does not hold.
//!
//! The fuzz targets in `fuzz/` call these functions, and the regression test
//! replays every input kept under `corpus/fuzz-regressions/<property>/`.
//! Besides "no panic, no hang", each checks that a result does not depend on
//! how the input is cut up or ordered.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use pcap_miner::app::dns::{DnsMessageSlice, TcpFramer};
use pcap_miner::app::http::{self, HeadStatus};
use pcap_miner::app::tls::{self, ClientHelloJoiner, JoinProgress};
use pcap_miner::capture::{linktype, CaptureReader, Packet};
use pcap_miner::decode::{Decoder, DefragLimits};
use pcap_miner::flow::{Reassembler, StreamEvent};
use pcap_miner::{mine_reader, Config, IndicatorSets, Miner};

/// A property: panics when it does not hold for the input.
pub type Property = fn(&[u8]);

/// Every property by name, as the fuzz targets and regression folders are named.
pub const PROPERTIES: [(&str, Property); 8] = [
    ("capture_reader", capture_reader),
    ("decode", decode),
    ("reassembly", reassembly),
    ("http", http_head),
    ("tls", tls_client_hello),
    ("dns", dns_message),
    ("pipeline", pipeline),
    ("segment_order", segment_order),
];

/// A reader that hands out the input in chunks of 1 to 16 bytes, sizes taken from the input.
struct ChunkedReader<'a> {
    data: &'a [u8],
    position: usize,
}

impl Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.data[self.position..];
        let size = 1 + usize::from(rest.first().copied().unwrap_or(0) % 16);
        let take = size.min(rest.len()).min(buf.len());
        buf[..take].copy_from_slice(&rest[..take]);
        self.position += take;
        Ok(take)
    }
}

/// Number, offset and bytes of one packet read.
type PacketRecord = (u64, u64, Vec<u8>);

/// Packets read, then the text of every error.
fn read_packets(reader: impl Read + Send) -> (Vec<PacketRecord>, Vec<String>) {
    let mut packets = Vec::new();
    let mut errors = Vec::new();
    let mut capture = match CaptureReader::new(reader) {
        Ok(capture) => capture,
        Err(error) => return (packets, vec![error.to_string()]),
    };
    loop {
        match capture.next_packet() {
            Ok(Some(packet)) => packets.push((packet.number, packet.offset, packet.data.to_vec())),
            Ok(None) => break,
            Err(error) => {
                errors.push(error.to_string());
                if capture.is_finished() {
                    break;
                }
            }
        }
    }
    (packets, errors)
}

/// The capture reader returns the same packets and errors whether the input comes whole or in small reads.
pub fn capture_reader(data: &[u8]) {
    let whole = read_packets(data);
    let chunked = read_packets(ChunkedReader { data, position: 0 });
    assert_eq!(whole, chunked, "whole and chunked reads differ");
}

/// Decodes any frame as each supported link type; the fuzzer reports a panic.
pub fn decode(data: &[u8]) {
    const LINK_TYPES: [u32; 14] = [
        linktype::ETHERNET,
        linktype::NULL,
        linktype::LOOP,
        linktype::RAW,
        linktype::IPV4,
        linktype::IPV6,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::PPP,
        linktype::PPP_ETHER,
        linktype::FDDI,
        linktype::NFLOG,
        linktype::IEEE802_11,
        linktype::IEEE802_11_RADIOTAP,
    ];
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new(DefragLimits::default());
    let packet = Packet {
        number: 1,
        offset: 0,
        link_type: LINK_TYPES[usize::from(selector) % LINK_TYPES.len()],
        timestamp_ns: 0,
        original_len: frame.len() as u32,
        data: frame,
    };
    // Twice, so fragments of the first pass can meet those of the second.
    for _ in 0..2 {
        decoder.decode(&packet, &mut |_| {});
    }
}

/// Segments described by the input: a byte of length, a byte of offset step, repeated.
fn segments_from(data: &[u8]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let stream: Vec<u8> = (0..data.len().min(512))
        .map(|i| data[i].wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    let mut segments = Vec::new();
    for pair in data.chunks(2) {
        let start = usize::from(pair[0]) * stream.len() / 256;
        let len = usize::from(pair.get(1).copied().unwrap_or(1) % 48) + 1;
        let end = (start + len).min(stream.len());
        if start < end {
            segments.push((start, end));
        }
    }
    (stream, segments)
}

/// Checks that the reassembler delivers each byte as first received, whatever the order and overlap.
pub fn reassembly(data: &[u8]) {
    let (stream, segments) = segments_from(data);
    let isn = u32::MAX - 100;
    let mut model: Vec<Option<u8>> = vec![None; stream.len()];
    let mut reassembler = Reassembler::default();
    reassembler.syn(isn);
    let mut out: Vec<Option<u8>> = Vec::new();
    let mut consumer = |event: StreamEvent<'_>| match event {
        StreamEvent::Data(bytes) => out.extend(bytes.iter().map(|&b| Some(b))),
        StreamEvent::Gap(len) => out.extend(std::iter::repeat_n(None, len as usize)),
    };
    for (index, &(start, end)) in segments.iter().enumerate() {
        // Odd segments carry altered bytes: overlapping copies may differ.
        let bytes: Vec<u8> = stream[start..end]
            .iter()
            .map(|&b| b.wrapping_add((index % 2) as u8))
            .collect();
        for (i, &b) in bytes.iter().enumerate() {
            model[start + i].get_or_insert(b);
        }
        let sequence = isn.wrapping_add(1).wrapping_add(start as u32);
        reassembler.segment(sequence, &bytes, bytes.len() as u32, 1 << 20, &mut consumer);
    }
    reassembler.flush(&mut consumer);
    let end = model.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    model.truncate(end);
    assert_eq!(out, model, "reassembled stream differs from the model");
}

/// Checks that a request head parses the same way from every longer prefix, and that no shorter prefix completes it.
pub fn http_head(data: &[u8]) {
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 8080);
    for at_end in [false, true] {
        if let HeadStatus::Complete { head, len } = http::parse_request_head(data, at_end) {
            assert!(len <= data.len());
            let uri = http::request_uri(&head, server, false);
            assert!(
                uri.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "unescaped byte in {uri:?}"
            );
        }
    }
    let HeadStatus::Complete { head, len } = http::parse_request_head(data, false) else {
        return;
    };
    for cut in 0..len {
        let status = http::parse_request_head(&data[..cut], false);
        assert!(
            !matches!(status, HeadStatus::Complete { .. }),
            "prefix {cut} completes a head of {len} bytes"
        );
    }
    if let HeadStatus::Complete { head: again, .. } = http::parse_request_head(&data[..len], false)
    {
        assert_eq!(again.target, head.target);
        assert_eq!(again.host, head.host);
    }
}

fn join(chunks: impl Iterator<Item = impl AsRef<[u8]>>) -> Result<Option<Vec<Vec<u8>>>, String> {
    let mut joiner = ClientHelloJoiner::new();
    for chunk in chunks {
        match joiner.push(chunk.as_ref()) {
            Ok(JoinProgress::NeedMore) => {}
            Ok(JoinProgress::Done { server_names, .. }) => return Ok(Some(server_names)),
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(None)
}

/// Checks that the ClientHello joiner returns the same names fed whole or byte by byte.
pub fn tls_client_hello(data: &[u8]) {
    let _ = tls::parse_client_hello(data);
    let _ = tls::starts_client_hello(data);
    let whole = join(std::iter::once(data));
    let bytes = join(data.chunks(1));
    assert_eq!(whole, bytes, "whole and byte-by-byte joins differ");
}

/// Checks that DNS names print as escaped ASCII and that TCP framing does not depend on how the stream is cut.
pub fn dns_message(data: &[u8]) {
    if let Ok(message) = DnsMessageSlice::from_slice(data) {
        for question in message.questions().flatten() {
            let name = question.name().to_presentation();
            assert!(
                name.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "unescaped byte in {name:?}"
            );
        }
    }
    let frames = |chunk: usize| {
        let mut framer = TcpFramer::new();
        let mut messages = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            framer.push(piece, &mut |message| messages.push(message.to_vec()));
        }
        messages
    };
    assert_eq!(frames(data.len()), frames(3), "framing depends on the cut");
}

/// Returns what a run reports: values with packet numbers, counters and the error text.
fn outcome_of(result: pcap_miner::MineResult) -> (IndicatorSets, String, Option<String>) {
    match result {
        Ok(report) => (report.indicators, format!("{:?}", report.stats), None),
        Err(partial) => (
            partial.report.indicators,
            format!("{:?}", partial.report.stats),
            Some(partial.error.to_string()),
        ),
    }
}

/// Mining a capture fed whole equals mining it fed in small reads, and
/// mining it on several threads taking small chunks.
pub fn pipeline(data: &[u8]) {
    let config = Config {
        max_results: None,
        ..Config::default()
    };
    let name = Path::new("fuzz-input");
    let whole = outcome_of(mine_reader(data, name, &config));
    let chunked = outcome_of(mine_reader(
        ChunkedReader { data, position: 0 },
        name,
        &config,
    ));
    assert_eq!(whole, chunked, "whole and chunked mining differ");
    for chunk_len in [61, 1500] {
        let threads = Config {
            threads: 2,
            chunk_len,
            ..config.clone()
        };
        let parallel = outcome_of(mine_reader(
            ChunkedReader { data, position: 0 },
            name,
            &threads,
        ));
        assert_eq!(
            whole, parallel,
            "one thread and two threads with {chunk_len}-byte chunks differ"
        );
    }
}

/// Builds a raw IPv4 frame (link type RAW) holding one TCP segment.
fn tcp_frame(from_client: bool, sequence: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (source, destination) = ([10, 0, 0, 2], [192, 0, 2, 80]);
    let (source, destination, source_port, destination_port) = if from_client {
        (source, destination, 49_152u16, 80u16)
    } else {
        (destination, source, 80, 49_152)
    };
    let total = (40 + payload.len()) as u16;
    let mut frame = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
    frame[2..4].copy_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&source);
    frame.extend_from_slice(&destination);
    frame.extend_from_slice(&source_port.to_be_bytes());
    frame.extend_from_slice(&destination_port.to_be_bytes());
    frame.extend_from_slice(&sequence.to_be_bytes());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

fn mine_frames(frames: &[Vec<u8>]) -> IndicatorSets {
    let config = Config {
        max_results: None,
        ..Config::default()
    };
    let mut miner = Miner::new(&config);
    for (index, frame) in frames.iter().enumerate() {
        let packet = Packet {
            number: index as u64 + 1,
            offset: 0,
            link_type: linktype::RAW,
            timestamp_ns: index as u64,
            original_len: frame.len() as u32,
            data: frame,
        };
        miner.packet(&packet);
    }
    miner.finish().indicators
}

/// Shuffling the order of a connection's segments after the handshake does not change what is mined.
pub fn segment_order(data: &[u8]) {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PUSH_ACK: u8 = 0x18;
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    // The client stream: a request prefix that makes the input likely to be HTTP, then the input.
    let mut stream = b"GET /".to_vec();
    stream.extend_from_slice(rest);

    let isn = 1_000u32;
    let handshake = vec![
        tcp_frame(true, isn, SYN, b""),
        tcp_frame(false, 5_000, SYN | ACK, b""),
    ];
    let mut segments = Vec::new();
    let mut start = 0;
    let mut size_seed = u32::from(seed) | 1;
    while start < stream.len() {
        size_seed = size_seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = 1 + (size_seed >> 16) as usize % 24;
        let end = (start + len).min(stream.len());
        segments.push(tcp_frame(
            true,
            isn + 1 + start as u32,
            PUSH_ACK,
            &stream[start..end],
        ));
        start = end;
    }

    let mut in_order = handshake.clone();
    in_order.extend(segments.iter().cloned());
    let mut shuffled = segments;
    let mut state = u64::from(seed) + 1;
    for i in (1..shuffled.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        shuffled.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut reordered = handshake;
    reordered.extend(shuffled);

    assert!(
        mine_frames(&in_order).kinds().count() > 0,
        "the connection itself must be mined"
    );
    let ordered_values: Vec<(String, Vec<String>)> = values(&mine_frames(&in_order));
    let reordered_values = values(&mine_frames(&reordered));
    assert_eq!(
        ordered_values, reordered_values,
        "segment order changed the result"
    );
}

fn values(sets: &IndicatorSets) -> Vec<(String, Vec<String>)> {
    sets.kinds()
        .map(|kind| {
            (
                kind.key().to_string(),
                sets.get(kind).map(str::to_string).collect(),
            )
        })
        .collect()
}
