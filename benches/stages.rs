//! One benchmark per stage of the pipeline, on the packets of a generated
//! capture held in memory: capture reading, decoding, TCP reassembly with
//! connection tracking, and each application parser. Every benchmark checks
//! the count it produces against a count taken once before timing.

use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcap_miner::app::dns::DnsMessageSlice;
use pcap_miner::app::http::{self, HeadStatus};
use pcap_miner::app::tls::{ClientHelloJoiner, JoinProgress};
use pcap_miner::capture::{CaptureReader, Packet};
use pcap_miner::decode::{Decoder, DefragLimits, TcpFlags, TcpSegment, Transport};
use pcap_miner::flow::{ConnectionEnds, FlowLimits, FlowTable, StreamHandler};

mod common;

/// A frame copied out of the capture.
struct Frame {
    link_type: u32,
    data: Vec<u8>,
}

/// A TCP segment copied out of a frame.
struct OwnedSegment {
    source: SocketAddr,
    destination: SocketAddr,
    sequence: u32,
    flags: u8,
    payload: Vec<u8>,
}

struct Inputs {
    file: Vec<u8>,
    frames: Vec<Frame>,
    segments: Vec<OwnedSegment>,
    request_heads: Vec<Vec<u8>>,
    client_hellos: Vec<Vec<u8>>,
    dns_messages: Vec<Vec<u8>>,
}

fn load() -> Inputs {
    let (capture, _) = common::capture("50M");
    let file = std::fs::read(&capture).expect("read the capture");
    let mut frames = Vec::new();
    {
        let mut reader = CaptureReader::new(file.as_slice()).expect("a valid capture");
        while let Some(packet) = reader.next_packet().expect("a valid capture") {
            frames.push(Frame {
                link_type: packet.link_type,
                data: packet.data.to_vec(),
            });
        }
    }

    let mut inputs = Inputs {
        file,
        frames,
        segments: Vec::new(),
        request_heads: Vec::new(),
        client_hellos: Vec::new(),
        dns_messages: Vec::new(),
    };
    let mut decoder = Decoder::new(DefragLimits::default());
    for frame in &inputs.frames {
        let packet = packet_of(frame);
        decoder.decode(&packet, &mut |transport| match transport {
            Transport::Tcp(segment) => {
                let payload = segment.payload;
                if matches!(
                    http::parse_request_head(payload, true),
                    HeadStatus::Complete { .. }
                ) {
                    inputs.request_heads.push(payload.to_vec());
                }
                if payload.starts_with(&[0x16, 0x03]) && payload.get(5) == Some(&1) {
                    inputs.client_hellos.push(payload.to_vec());
                }
                inputs.segments.push(OwnedSegment {
                    source: segment.source,
                    destination: segment.destination,
                    sequence: segment.sequence,
                    flags: segment.flags.0,
                    payload: payload.to_vec(),
                });
            }
            Transport::Udp(datagram) if datagram.destination.port() == 53 => {
                inputs.dns_messages.push(datagram.payload.to_vec());
            }
            Transport::Udp(_) => {}
        });
    }
    inputs
}

fn packet_of(frame: &Frame) -> Packet<'_> {
    Packet {
        number: 0,
        offset: 0,
        link_type: frame.link_type,
        timestamp_ns: 0,
        original_len: frame.data.len() as u32,
        data: &frame.data,
    }
}

/// Counts the stream bytes it is given; reads everything.
struct CountingHandler;

impl StreamHandler for CountingHandler {
    type Context = u64;

    fn new(_client: SocketAddr, _server: SocketAddr) -> Self {
        CountingHandler
    }

    fn data(&mut self, bytes: &mut u64, data: &[u8]) {
        *bytes += data.len() as u64;
    }

    fn gap(&mut self, _bytes: &mut u64, _len: u64) {}

    fn wants_data(&self) -> bool {
        true
    }

    fn finish(&mut self, _bytes: &mut u64, _ends: ConnectionEnds) {}
}

fn stages(c: &mut Criterion) {
    let inputs = load();
    let file_len = inputs.file.len() as u64;
    let frame_bytes: u64 = inputs.frames.iter().map(|f| f.data.len() as u64).sum();

    let mut group = c.benchmark_group("stage");
    group.sample_size(10);

    group.throughput(Throughput::Bytes(file_len));
    let frame_count = inputs.frames.len();
    group.bench_function("capture_read", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::new(inputs.file.as_slice()).expect("a valid capture");
            let mut count = 0;
            while let Some(_packet) = reader.next_packet().expect("a valid capture") {
                count += 1;
            }
            assert_eq!(count, frame_count);
        })
    });

    group.throughput(Throughput::Bytes(frame_bytes));
    let transport_count = {
        let mut decoder = Decoder::new(DefragLimits::default());
        let mut count = 0usize;
        for frame in &inputs.frames {
            decoder.decode(&packet_of(frame), &mut |_| count += 1);
        }
        count
    };
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(DefragLimits::default());
            let mut count = 0usize;
            for frame in &inputs.frames {
                decoder.decode(&packet_of(frame), &mut |_| count += 1);
            }
            assert_eq!(count, transport_count);
        })
    });

    let segment_bytes: u64 = inputs.segments.iter().map(|s| s.payload.len() as u64).sum();
    group.throughput(Throughput::Bytes(segment_bytes));
    let run_flows = || {
        let mut table: FlowTable<CountingHandler> = FlowTable::new(FlowLimits::default());
        let mut delivered = 0u64;
        for (number, segment) in inputs.segments.iter().enumerate() {
            let view = TcpSegment {
                source: segment.source,
                destination: segment.destination,
                sequence: segment.sequence,
                acknowledgment: 0,
                flags: TcpFlags(segment.flags),
                payload: &segment.payload,
                wire_payload_len: segment.payload.len() as u32,
            };
            table.segment(&view, number as u64 + 1, &mut delivered);
        }
        table.finish_all(&mut delivered);
        delivered
    };
    let delivered = run_flows();
    assert!(delivered > 0);
    group.bench_function("flows_and_reassembly", |b| {
        b.iter(|| assert_eq!(run_flows(), delivered))
    });

    let head_bytes: u64 = inputs.request_heads.iter().map(|h| h.len() as u64).sum();
    group.throughput(Throughput::Bytes(head_bytes));
    assert!(
        !inputs.request_heads.is_empty(),
        "the capture holds no HTTP request"
    );
    let server: SocketAddr = "192.0.2.1:80".parse().expect("an address");
    group.bench_function("http_head", |b| {
        b.iter(|| {
            let mut count = 0;
            for head in &inputs.request_heads {
                if let HeadStatus::Complete { head, .. } = http::parse_request_head(head, true) {
                    count += http::request_uri(&head, server, false).len().min(1);
                }
            }
            assert_eq!(count, inputs.request_heads.len());
        })
    });

    let hello_bytes: u64 = inputs.client_hellos.iter().map(|h| h.len() as u64).sum();
    group.throughput(Throughput::Bytes(hello_bytes));
    assert!(
        !inputs.client_hellos.is_empty(),
        "the capture holds no ClientHello"
    );
    let complete_hellos = count_hellos(&inputs.client_hellos);
    group.bench_function("tls_client_hello", |b| {
        b.iter(|| assert_eq!(count_hellos(&inputs.client_hellos), complete_hellos))
    });

    let dns_bytes: u64 = inputs.dns_messages.iter().map(|m| m.len() as u64).sum();
    group.throughput(Throughput::Bytes(dns_bytes));
    let names = count_dns_names(&inputs.dns_messages);
    assert!(names > 0, "the capture holds no DNS query");
    group.bench_function("dns_question", |b| {
        b.iter(|| assert_eq!(count_dns_names(&inputs.dns_messages), names))
    });
    group.finish();
}

/// Counts the ClientHellos complete in their first segment (the others need the next one).
fn count_hellos(hellos: &[Vec<u8>]) -> usize {
    hellos
        .iter()
        .filter(|hello| {
            matches!(
                ClientHelloJoiner::new().push(hello),
                Ok(JoinProgress::Done { .. })
            )
        })
        .count()
}

fn count_dns_names(messages: &[Vec<u8>]) -> usize {
    let mut names = 0;
    for message in messages {
        if let Ok(message) = DnsMessageSlice::from_slice(message) {
            for question in message.questions().flatten() {
                names += question.name().to_presentation().len().min(1);
            }
        }
    }
    names
}

criterion_group!(benches, stages);
criterion_main!(benches);
