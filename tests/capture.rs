//! Capture reading: pcap and pcapng variants of the same traffic, packet
//! numbers, offsets and timestamps, slow readers, and files that are not captures.

use std::io::{self, Read};
use std::path::Path;

use pcap_miner::capture::{CaptureErrorKind, CaptureFormat, CaptureReader, Recovery};
use pcap_miner::mine_reader;

use crate::pcapgen::{
    self, expected_values, frames, pcap, sample_pcapng, sample_traffic, values_of, Capture, Endian,
    Frame, PcapNgWriter, Precision, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL,
    LINKTYPE_RAW, SAMPLE_EXPECTED,
};
use crate::util::unlimited;

/// A packet as the reader returned it, copied out of the reader's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadPacket {
    number: u64,
    offset: u64,
    link_type: u32,
    timestamp_ns: u64,
    original_len: u32,
    data: Vec<u8>,
}

fn read_packets(input: impl Read + Send) -> Vec<ReadPacket> {
    let mut reader = CaptureReader::new(input).unwrap();
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet().unwrap() {
        packets.push(ReadPacket {
            number: packet.number,
            offset: packet.offset,
            link_type: packet.link_type,
            timestamp_ns: packet.timestamp_ns,
            original_len: packet.original_len,
            data: packet.data.to_vec(),
        });
    }
    packets
}

/// Returns every pcap variant of the sample traffic with its name.
fn pcap_variants() -> Vec<(String, Capture)> {
    let frames = frames(LINKTYPE_ETHERNET, &sample_traffic());
    let mut variants = Vec::new();
    for endian in [Endian::Little, Endian::Big] {
        for precision in [Precision::Micro, Precision::Nano] {
            let name = format!("pcap {endian:?} {precision:?}");
            variants.push((name, pcap(LINKTYPE_ETHERNET, endian, precision, &frames)));
        }
    }
    variants
}

fn all_variants() -> Vec<(String, Capture)> {
    let mut variants = pcap_variants();
    variants.push(("pcapng".to_string(), sample_pcapng()));
    variants
}

#[test]
fn formats_give_same_indicators() {
    let expected = expected_values(&SAMPLE_EXPECTED);
    let packet_count = sample_traffic().len() as u64;
    for (name, capture) in all_variants() {
        let report = mine_reader(&capture.bytes[..], Path::new(&name), &unlimited())
            .unwrap_or_else(|partial| panic!("{name}: {}", partial.error));
        assert_eq!(values_of(&report.indicators), expected, "{name}");
        assert_eq!(report.stats.packets, packet_count, "{name}: packets");
        assert_eq!(
            report.stats.bytes,
            capture.bytes.len() as u64,
            "{name}: bytes"
        );
        assert_eq!(report.stats.flows.connections, 4, "{name}: connections");
        assert_eq!(report.stats.malformed(), 0, "{name}: malformed");
        assert_eq!(report.stats.skipped(), 0, "{name}: skipped");
    }
}

#[test]
fn reader_numbers_offsets_and_data() {
    for (name, capture) in all_variants() {
        let packets = read_packets(&capture.bytes[..]);
        let records = capture.packet_records();
        assert_eq!(packets.len(), records.len(), "{name}: packet count");
        for (packet, record) in packets.iter().zip(&records) {
            assert_eq!(Some(packet.number), record.packet, "{name}: number");
            assert_eq!(
                packet.offset, record.offset as u64,
                "{name}: offset of packet {}",
                packet.number
            );
            let record_bytes = &capture.bytes[record.offset..record.offset + record.len];
            assert!(
                record_bytes
                    .windows(packet.data.len())
                    .any(|w| w == packet.data),
                "{name}: data of packet {} is not inside its record",
                packet.number
            );
        }
    }
}

#[test]
fn reader_reports_format_and_link_types() {
    let (_, pcap_capture) = pcap_variants().remove(0);
    let reader = CaptureReader::new(&pcap_capture.bytes[..]).unwrap();
    assert_eq!(reader.format(), CaptureFormat::Pcap);

    let capture = sample_pcapng();
    let reader = CaptureReader::new(&capture.bytes[..]).unwrap();
    assert_eq!(reader.format(), CaptureFormat::PcapNg);

    let packets = read_packets(&capture.bytes[..]);
    let half = sample_traffic().len() / 2;
    for packet in &packets {
        let i = (packet.number - 1) as usize;
        let expected = match (i < half, i % 2, i % 3) {
            (true, 0, _) => LINKTYPE_ETHERNET,
            (true, _, _) => LINKTYPE_RAW,
            (false, _, 0 | 1) => LINKTYPE_LINUX_SLL2,
            (false, _, _) => LINKTYPE_NULL,
        };
        assert_eq!(packet.link_type, expected, "packet {}", packet.number);
    }
}

#[test]
fn pcap_timestamps_micro_and_nano() {
    let data = pcapgen::ethernet_ip(&sample_traffic()[0]);
    let micro = 1_700_000_000_123_456_000;
    let nano = 1_700_000_000_123_456_789;
    for endian in [Endian::Little, Endian::Big] {
        let frames = [Frame::new(micro, data.clone())];
        let capture = pcap(LINKTYPE_ETHERNET, endian, Precision::Micro, &frames);
        let packets = read_packets(&capture.bytes[..]);
        assert_eq!(packets[0].timestamp_ns, micro, "{endian:?} micro");

        let frames = [Frame::new(nano, data.clone())];
        let capture = pcap(LINKTYPE_ETHERNET, endian, Precision::Nano, &frames);
        let packets = read_packets(&capture.bytes[..]);
        assert_eq!(packets[0].timestamp_ns, nano, "{endian:?} nano");
    }
}

#[test]
fn pcap_original_length_kept() {
    let data = pcapgen::ethernet_ip(&sample_traffic()[3]);
    let mut frame = Frame::new(1_700_000_000_000_000_000, data[..40].to_vec());
    frame.original_len = data.len();
    let capture = pcap(
        LINKTYPE_ETHERNET,
        Endian::Little,
        Precision::Micro,
        &[frame],
    );
    let packets = read_packets(&capture.bytes[..]);
    assert_eq!(packets[0].data.len(), 40);
    assert_eq!(packets[0].original_len as usize, data.len());
}

/// Writes one packet per interface, each described with `tsresol`, and checks the decoded time.
fn check_pcapng_timestamps(endian: Endian, cases: &[(Option<u8>, Option<i64>, u64)]) {
    let data = pcapgen::ethernet_ip(&sample_traffic()[0]);
    let mut writer = PcapNgWriter::new();
    writer.section(endian);
    for &(tsresol, tsoffset, timestamp_ns) in cases {
        let interface = writer.interface(LINKTYPE_ETHERNET as u16, tsresol, tsoffset);
        writer.enhanced_packet(interface, &Frame::new(timestamp_ns, data.clone()));
    }
    let capture = writer.finish();
    let packets = read_packets(&capture.bytes[..]);
    assert_eq!(packets.len(), cases.len());
    for (packet, (tsresol, tsoffset, timestamp_ns)) in packets.iter().zip(cases) {
        assert_eq!(
            packet.timestamp_ns, *timestamp_ns,
            "{endian:?} section, if_tsresol {tsresol:?}, if_tsoffset {tsoffset:?}"
        );
    }
}

#[test]
fn pcapng_timestamps_decimal_resolutions() {
    let cases = [
        (None, None, 1_700_000_000_123_456_000),
        (Some(6), None, 1_700_000_000_123_456_000),
        (Some(9), None, 1_700_000_000_123_456_789),
        (Some(3), None, 1_700_000_000_123_000_000),
        (Some(0), None, 1_700_000_000_000_000_000),
        (Some(9), Some(1_600_000_000), 1_700_000_000_123_456_789),
    ];
    check_pcapng_timestamps(Endian::Little, &cases);
}

#[test]
fn pcapng_timestamps_big_endian_section() {
    let cases = [
        (None, None, 1_700_000_000_123_456_000),
        (Some(9), None, 1_700_000_000_123_456_789),
    ];
    check_pcapng_timestamps(Endian::Big, &cases);
}

#[test]
fn pcapng_tsoffset_big_endian_section() {
    let cases = [(Some(9), Some(1_600_000_000), 1_700_000_000_123_456_789)];
    check_pcapng_timestamps(Endian::Big, &cases);
}

#[test]
fn pcapng_timestamps_binary_resolution() {
    // 2^-10 and 2^-20 seconds per tick; half a second is exact in both.
    let cases = [
        (Some(0x80 | 10), None, 1_700_000_000_500_000_000),
        (Some(0x80 | 20), None, 1_700_000_000_250_000_000),
    ];
    check_pcapng_timestamps(Endian::Little, &cases);
}

#[test]
fn pcapng_simple_packet_uses_interface_zero() {
    let data = pcapgen::frame(LINKTYPE_RAW, &sample_traffic()[0]);
    let mut writer = PcapNgWriter::new();
    writer.section(Endian::Little);
    writer.interface(LINKTYPE_RAW as u16, None, None);
    writer.interface(LINKTYPE_ETHERNET as u16, None, None);
    // 3 bytes of data are padded to 4 in the block; the reader must drop the padding.
    let short = Frame::new(0, data[..3].to_vec());
    writer.simple_packet(&short);
    writer.simple_packet(&Frame::new(0, data.clone()));
    let packets = read_packets(&writer.finish().bytes[..]);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].link_type, LINKTYPE_RAW);
    assert_eq!(packets[0].data, &data[..3]);
    assert_eq!(packets[1].data, data);
    assert_eq!(packets[1].original_len as usize, data.len());
}

#[test]
fn pcapng_packet_of_undescribed_interface_skipped() {
    let data = pcapgen::ethernet_ip(&sample_traffic()[0]);
    let mut writer = PcapNgWriter::new();
    writer.section(Endian::Little);
    writer.interface(LINKTYPE_ETHERNET as u16, None, None);
    writer.enhanced_packet(0, &Frame::new(0, data.clone()));
    // Interface ids start over in a new section, so its first packet names no interface.
    writer.section(Endian::Little);
    writer.simple_packet(&Frame::new(0, data.clone()));
    writer.interface(LINKTYPE_ETHERNET as u16, None, None);
    writer.enhanced_packet(0, &Frame::new(0, data));
    let capture = writer.finish();

    let mut reader = CaptureReader::new(&capture.bytes[..]).unwrap();
    let mut numbers = Vec::new();
    while let Some(packet) = reader.next_packet().unwrap() {
        numbers.push(packet.number);
    }
    assert_eq!(numbers, [1, 2]);
    assert_eq!(reader.orphan_packets(), 1);
}

/// Returns 1 to 7 bytes per `read` call, chosen by a seeded xorshift.
struct Trickle<'a> {
    data: &'a [u8],
    state: u64,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let n = (1 + self.state % 7) as usize;
        let n = n.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn trickling_reader_reads_same() {
    for (name, capture) in all_variants() {
        let whole = read_packets(&capture.bytes[..]);
        let trickled = read_packets(Trickle {
            data: &capture.bytes,
            state: 0x9e37_79b9_7f4a_7c15,
        });
        assert_eq!(trickled, whole, "{name}: packets");

        let trickle = Trickle {
            data: &capture.bytes,
            state: 0x2545_f491_4f6c_dd1d,
        };
        let report = mine_reader(trickle, Path::new(&name), &unlimited())
            .unwrap_or_else(|partial| panic!("{name}: {}", partial.error));
        assert_eq!(
            values_of(&report.indicators),
            expected_values(&SAMPLE_EXPECTED),
            "{name}: indicators"
        );
        assert_eq!(report.stats.bytes, capture.bytes.len() as u64, "{name}");
    }
}

#[test]
fn empty_file_rejected() {
    let error = CaptureReader::new(&[][..]).err().unwrap();
    assert!(
        matches!(error.kind, CaptureErrorKind::Empty),
        "{:?}",
        error.kind
    );

    let partial = mine_reader(&[][..], Path::new("empty.pcap"), &unlimited()).unwrap_err();
    let message = partial.error.to_string();
    assert!(message.contains("empty.pcap"), "{message}");
    assert!(message.contains("empty"), "{message}");
    assert_eq!(partial.report.stats.packets, 0);
    assert_eq!(partial.report.stats.bytes, 0);
}

#[test]
fn cut_file_header_named() {
    let frames = frames(LINKTYPE_ETHERNET, &sample_traffic());
    let capture = pcap(LINKTYPE_ETHERNET, Endian::Little, Precision::Micro, &frames);
    let pcapng = sample_pcapng();
    for (name, bytes) in [("pcap", &capture.bytes), ("pcapng", &pcapng.bytes)] {
        for len in [10, 20] {
            let error = CaptureReader::new(&bytes[..len]).err().unwrap();
            assert!(
                matches!(error.kind, CaptureErrorKind::HeaderTruncated { present } if present == len),
                "{name}, {len} bytes: {:?}",
                error.kind
            );
            assert!(error.to_string().contains("file header"), "{name}: {error}");
        }
    }
}

#[test]
fn unknown_byte_order_magic_named() {
    let mut bytes = sample_pcapng().bytes;
    bytes[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let error = CaptureReader::new(&bytes[..]).err().unwrap();
    let message = error.to_string();
    assert!(message.contains("byte-order magic 01020304"), "{message}");
}

#[test]
fn non_capture_file_rejected() {
    let text =
        b"GIF89a\x01\x00\x01\x00 this is an image, not a capture, and long enough for a header";
    let error = CaptureReader::new(&text[..]).err().unwrap();
    let CaptureErrorKind::NotACapture { magic } = &error.kind else {
        panic!("expected NotACapture, got {:?}", error.kind);
    };
    assert_eq!(error.offset, 0);

    let partial = mine_reader(&text[..], Path::new("picture.gif"), &unlimited()).unwrap_err();
    let message = partial.error.to_string();
    assert!(message.contains("picture.gif"), "{message}");
    assert!(message.contains("not a pcap or pcapng file"), "{message}");
    assert!(message.contains("editcap"), "{message}");
    assert!(message.contains("47494638"), "{message}");
    assert_eq!(partial.report.stats.packets, 0);
    assert_eq!(magic, "47494638");
}

#[test]
fn joined_pcap_files_read_through() {
    // Two captures joined with `cat`: the second file header sits where a record
    // would, and its link type applies to the records after it.
    let traffic = sample_traffic();
    for (name, first) in pcap_variants() {
        let endian = if name.contains("Big") {
            Endian::Big
        } else {
            Endian::Little
        };
        let precision = if name.contains("Nano") {
            Precision::Nano
        } else {
            Precision::Micro
        };
        let raw_frames = frames(LINKTYPE_RAW, &traffic);
        let second = pcap(LINKTYPE_RAW, endian, precision, &raw_frames);
        let mut joined = first.bytes.clone();
        joined.extend_from_slice(&second.bytes);

        let report = mine_reader(&joined[..], Path::new(&name), &unlimited())
            .unwrap_or_else(|partial| panic!("{name}: {}", partial.error));
        assert_eq!(
            values_of(&report.indicators),
            expected_values(&SAMPLE_EXPECTED),
            "{name}"
        );
        assert_eq!(report.stats.packets, 2 * traffic.len() as u64, "{name}");
        assert_eq!(report.stats.damaged_records, 0, "{name}");
        crate::threads::assert_threads_agree_on_bytes(&joined, &unlimited());
    }
}

#[test]
fn pcapng_garbage_between_blocks_skipped() {
    let capture = sample_pcapng();
    let expected = expected_values(&SAMPLE_EXPECTED);
    let records = &capture.records;
    // The second section header is the only record after the first that starts a section.
    let second_section = records
        .iter()
        .skip(1)
        .find(|record| capture.bytes[record.offset..record.offset + 4] == [0x0a, 0x0d, 0x0d, 0x0a])
        .unwrap()
        .offset;
    let first_packet = records.iter().find(|r| r.packet.is_some()).unwrap().offset;

    // Garbage of a length that misaligns later blocks, and garbage before a
    // section of the other byte order.
    for (at, garbage_len) in [
        (first_packet, 37),
        (second_section, 20),
        (second_section, 6),
    ] {
        let name = format!("{garbage_len} bytes at {at}");
        let mut damaged = capture.bytes[..at].to_vec();
        damaged.extend(std::iter::repeat_n(0xee, garbage_len));
        damaged.extend_from_slice(&capture.bytes[at..]);

        let partial =
            mine_reader(&damaged[..], Path::new("garbage.pcapng"), &unlimited()).expect_err(&name);
        assert_eq!(values_of(&partial.report.indicators), expected, "{name}");
        let error = partial.error.capture_error().unwrap();
        assert_eq!(error.offset, at as u64, "{name}");
        assert_eq!(
            error.recovery,
            Recovery::Resumed {
                skipped: garbage_len as u64
            },
            "{name}"
        );
        crate::threads::assert_threads_agree_on_bytes(&damaged, &unlimited());
    }
}

#[test]
fn pcapng_crafted_filler_resynchronises_once() {
    // Filler in which every 8 bytes start a block whose trailing length
    // matches, so each looks like the next block and none parses.
    let mut filler = Vec::new();
    while filler.len() < 512 << 10 {
        filler.extend_from_slice(&4u32.to_le_bytes());
        filler.extend_from_slice(&0x3fff8u32.to_le_bytes());
    }
    let path = crate::util::repo_root().join("corpus/mixed/capture.pcapng");
    let capture = std::fs::read(&path).unwrap();
    let alone = mine_reader(&capture[..], &path, &unlimited()).unwrap();
    let mut bytes = capture.clone();
    bytes.extend_from_slice(&[0xff; 3]);
    bytes.extend_from_slice(&filler);
    bytes.extend_from_slice(&capture);

    let partial = mine_reader(&bytes[..], Path::new("filler.pcapng"), &unlimited())
        .expect_err("the filler is damage");
    let report = partial.report;
    assert_eq!(values_of(&report.indicators), values_of(&alone.indicators));
    assert_eq!(report.stats.packets, 2 * alone.stats.packets);
    // A block resumed at and found damaged is skipped whole, so the scan
    // does not parse the filler once per candidate.
    assert!(
        report.stats.damaged_records <= 16,
        "{} damaged records",
        report.stats.damaged_records
    );
}
