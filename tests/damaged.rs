//! Damaged captures: every prefix of a capture, and records with impossible
//! lengths. What comes before the damage must be mined, nothing may be
//! invented, and the error must name where the damage is.

use std::collections::BTreeMap;
use std::path::Path;

use pcap_miner::{mine_reader, Config, MineError};

use crate::pcapgen::{
    addr, expected_values, frames, pcap, records_of, sample_pcapng, sample_traffic, values_of,
    Capture, Endian, Precision, Record, TcpConnection, LINKTYPE_ETHERNET, PCAPNG_ENHANCED_PACKET,
};
use crate::util::repo_root;

type Values = BTreeMap<String, Vec<String>>;

/// Outcome of mining some bytes: the values and the error message, if any.
struct Outcome {
    values: Values,
    error: Option<String>,
    /// Packet number and offset of the capture error, if the error is one.
    place: Option<(u64, u64)>,
}

fn mine(name: &str, bytes: &[u8]) -> Outcome {
    let config = Config {
        max_results: None,
        ..Config::default()
    };
    match mine_reader(bytes, Path::new(name), &config) {
        Ok(report) => Outcome {
            values: values_of(&report.indicators),
            error: None,
            place: None,
        },
        Err(partial) => {
            let place = match &partial.error {
                MineError::Capture { source, .. } => Some((source.packet, source.offset)),
                _ => None,
            };
            Outcome {
                values: values_of(&partial.report.indicators),
                error: Some(partial.error.to_string()),
                place,
            }
        }
    }
}

/// Returns the values of `part` that `whole` lacks, as `key value` lines.
fn not_in(part: &Values, whole: &Values) -> Vec<String> {
    let mut extra = Vec::new();
    for (key, values) in part {
        let known = whole.get(key).cloned().unwrap_or_default();
        for value in values {
            if !known.contains(value) {
                extra.push(format!("{key} {value}"));
            }
        }
    }
    extra
}

/// Returns true when the text has only printable ASCII and spaces.
fn printable(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
}

/// Places inside a record to cut at: in its header, in its body, one byte short.
fn inner_cuts(record: &Record) -> Vec<usize> {
    let mut cuts: Vec<usize> = [1, 8, 15, record.len / 2, record.len - 1]
        .into_iter()
        .filter(|&cut| cut > 0 && cut < record.len)
        .map(|cut| record.offset + cut)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// What every prefix of one capture is checked against.
struct Reference<'a> {
    name: &'a str,
    bytes: &'a [u8],
    whole: Values,
}

/// Checks a cut inside `record`: no invented values, the values of earlier
/// records (`before`) kept, and an error that names the file, the packet
/// number and the record's offset in printable text.
fn check_inner_cut(
    reference: &Reference<'_>,
    record: &Record,
    packet: u64,
    before: &Values,
    cut: usize,
) -> Vec<String> {
    let name = reference.name;
    let outcome = mine(name, &reference.bytes[..cut]);
    let at = format!(
        "{name} cut at byte {cut} inside the record at {}",
        record.offset
    );
    let mut failures = Vec::new();
    for extra in not_in(&outcome.values, &reference.whole) {
        failures.push(format!("{at}: value not in the whole file: {extra}"));
    }
    for lost in not_in(before, &outcome.values) {
        failures.push(format!("{at}: lost a value of earlier records: {lost}"));
    }

    let Some(message) = &outcome.error else {
        failures.push(format!("{at}: no error"));
        return failures;
    };
    let expected_place = (packet, record.offset as u64);
    if outcome.place != Some(expected_place) {
        failures.push(format!(
            "{at}: error at {:?}, expected packet {packet} at offset {}: {message}",
            outcome.place, record.offset
        ));
    }
    for part in [
        name.to_string(),
        format!("packet {packet}"),
        format!("byte offset {}", record.offset),
    ] {
        if !message.contains(&part) {
            failures.push(format!("{at}: message lacks {part:?}: {message}"));
        }
    }
    if !printable(message) {
        failures.push(format!("{at}: message is not printable: {message:?}"));
    }
    failures
}

/// Cuts `bytes` after every record and inside every record, checking each
/// result against the whole file's values; returns the failures.
fn check_prefixes(name: &str, bytes: &[u8], records: &[Record]) -> Vec<String> {
    let whole = mine(name, bytes);
    let mut failures = Vec::new();
    if let Some(error) = &whole.error {
        failures.push(format!("{name}: whole file: {error}"));
    }
    let reference = Reference {
        name,
        bytes,
        whole: whole.values,
    };

    let mut packets_before = 0;
    // Values of the prefix that ends where the current record starts.
    let mut before = Values::new();
    for record in records {
        for cut in inner_cuts(record) {
            let packet = packets_before + 1;
            failures.extend(check_inner_cut(&reference, record, packet, &before, cut));
        }

        let end = record.offset + record.len;
        let outcome = mine(name, &bytes[..end]);
        let at = format!("{name} cut at record boundary {end}");
        if let Some(error) = &outcome.error {
            failures.push(format!("{at}: unexpected error: {error}"));
        }
        for extra in not_in(&outcome.values, &reference.whole) {
            failures.push(format!("{at}: value not in the whole file: {extra}"));
        }
        before = outcome.values;
        packets_before += u64::from(record.packet.is_some());
    }
    failures
}

fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn sample_pcap() -> Capture {
    let frames = frames(LINKTYPE_ETHERNET, &sample_traffic());
    pcap(LINKTYPE_ETHERNET, Endian::Big, Precision::Nano, &frames)
}

#[test]
fn records_walker_matches_writer() {
    for capture in [sample_pcap(), sample_pcapng()] {
        assert_eq!(records_of(&capture.bytes), capture.records);
    }
}

#[test]
fn generated_pcap_prefixes() {
    let capture = sample_pcap();
    assert_no_failures(&check_prefixes(
        "sample.pcap",
        &capture.bytes,
        &capture.records,
    ));
}

#[test]
fn generated_pcapng_prefixes() {
    let capture = sample_pcapng();
    assert_no_failures(&check_prefixes(
        "sample.pcapng",
        &capture.bytes,
        &capture.records,
    ));
}

#[test]
fn corpus_captures_prefixes() {
    for name in ["mixed/capture.pcapng", "http-curl/capture.pcap"] {
        let path = repo_root().join("corpus").join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let records = records_of(&bytes);
        assert!(records.len() > 10, "{name}: {} records", records.len());
        assert_no_failures(&check_prefixes(name, &bytes, &records));
    }
}

/// Mines a capture whose record `damaged` was changed; checks that the error
/// names that record and that the values of earlier records were kept.
fn check_damaged_record(name: &str, original: &Capture, damaged_bytes: &[u8], damaged: &Record) {
    let whole = mine(name, &original.bytes);
    let before = mine(name, &original.bytes[..damaged.offset]);
    let outcome = mine(name, damaged_bytes);

    let message = outcome
        .error
        .unwrap_or_else(|| panic!("{name}: damaged record read without an error"));
    let packet = damaged.packet.unwrap();
    assert_eq!(
        outcome.place,
        Some((packet, damaged.offset as u64)),
        "{name}: {message}"
    );
    assert!(message.contains(name), "{message}");
    assert!(message.contains(&format!("packet {packet}")), "{message}");
    let offset = format!("byte offset {}", damaged.offset);
    assert!(message.contains(&offset), "{message}");
    assert!(printable(&message), "{message:?}");

    assert!(
        !before.values.is_empty(),
        "{name}: no values before the damage"
    );
    assert_eq!(
        not_in(&before.values, &outcome.values),
        Vec::<String>::new()
    );
    assert_eq!(not_in(&outcome.values, &whole.values), Vec::<String>::new());
}

/// Returns the packet record in the middle of a capture.
fn middle_packet(capture: &Capture) -> Record {
    let packets = capture.packet_records();
    packets[packets.len() / 2]
}

#[test]
fn pcap_record_with_impossible_length() {
    let capture = sample_pcap();
    let record = middle_packet(&capture);
    let mut bytes = capture.bytes.clone();
    // Big-endian caplen at bytes 8..12 of the record header.
    bytes[record.offset + 8..record.offset + 12].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    check_damaged_record("impossible.pcap", &capture, &bytes, &record);
}

#[test]
fn pcapng_block_with_impossible_length() {
    let capture = sample_pcapng();
    // Packet 4 is in the first, little-endian section.
    let record = capture.packet_records()[3];
    let mut bytes = capture.bytes.clone();
    assert_eq!(
        bytes[record.offset..record.offset + 4],
        PCAPNG_ENHANCED_PACKET.to_le_bytes()
    );
    bytes[record.offset + 4..record.offset + 8].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    check_damaged_record("impossible.pcapng", &capture, &bytes, &record);
}

#[test]
fn pcapng_block_of_control_bytes() {
    let capture = sample_pcapng();
    let record = capture.packet_records()[3];
    let mut bytes = capture.bytes.clone();
    // A block type and length made of control bytes (BEL, ESC): length 0x1b07 is not a multiple of 4.
    bytes[record.offset..record.offset + 8]
        .copy_from_slice(&[0x07, 0x1b, 0x00, 0x00, 0x07, 0x1b, 0, 0]);
    check_damaged_record("binary.pcapng", &capture, &bytes, &record);
}

/// Returns a capture of one HTTP connection whose request head is split in
/// two segments after `split` bytes, and the offset of the second segment's record.
fn split_head_capture(head: &[u8], split: usize) -> (Capture, usize) {
    let http = TcpConnection::new(addr("10.0.0.5:49152"), addr("192.0.2.80:80"));
    let mut packets = http.handshake();
    packets.push(http.client_data(0, &head[..split]));
    packets.push(http.client_data(split, &head[split..]));
    packets.push(http.client_fin(head.len()));
    let frames = frames(LINKTYPE_ETHERNET, &packets);
    let capture = pcap(LINKTYPE_ETHERNET, Endian::Little, Precision::Micro, &frames);
    let second_segment = capture.packet_records()[4].offset;
    (capture, second_segment)
}

/// Mines each (head, split, place) case cut after its first segment; returns
/// the values of the cut capture that the whole capture lacks.
fn invented_by_cut_heads(cases: &[(&[u8], usize, &str)]) -> Vec<String> {
    let expected = expected_values(&[
        ("network-http", &["http://evil.example/gate.php?id=1"]),
        ("network-tcp", &["192.0.2.80:80"]),
    ]);
    let mut failures = Vec::new();
    for &(head, split, place) in cases {
        let (capture, second_segment) = split_head_capture(head, split);
        let whole = mine("head.pcap", &capture.bytes);
        assert_eq!(whole.values, expected, "{place}: whole capture");

        let cut = mine("head.pcap", &capture.bytes[..second_segment]);
        assert_eq!(cut.error, None, "{place}");
        for extra in not_in(&cut.values, &whole.values) {
            failures.push(format!("capture ending {place}: {extra}"));
        }
    }
    failures
}

const HOST_FIRST: &[u8] =
    b"GET /gate.php?id=1 HTTP/1.1\r\nHost: evil.example\r\nAccept: */*\r\n\r\n";
const HOST_LATER: &[u8] =
    b"GET /gate.php?id=1 HTTP/1.1\r\nAccept: */*\r\nHost: evil.example\r\n\r\n";

#[test]
fn cut_head_at_host_invents_no_uri() {
    let cases: [(&[u8], usize, &str); 3] = [
        (HOST_FIRST, 31, "inside the Host name"),
        (HOST_FIRST, 40, "inside the Host value"),
        (HOST_FIRST, 49, "after the Host line"),
    ];
    assert_no_failures(&invented_by_cut_heads(&cases));
}

/// A head cut before any Host line is reported under the server address, as
/// the missing-Host rule gives for a request line that a short snap length cut.
#[test]
fn cut_head_before_host_uses_server_address() {
    let expected = expected_values(&[
        ("network-http", &["http://192.0.2.80/gate.php?id=1"]),
        ("network-tcp", &["192.0.2.80:80"]),
    ]);
    for (split, place) in [
        (29, "after the request line"),
        (42, "after a header line before Host"),
    ] {
        let (capture, second_segment) = split_head_capture(HOST_LATER, split);
        let cut = mine("head.pcap", &capture.bytes[..second_segment]);
        assert_eq!(cut.error, None, "{place}");
        assert_eq!(cut.values, expected, "{place}");
    }
}

#[test]
fn non_capture_control_bytes_not_echoed() {
    // An ANSI clear-screen sequence, a bell, NUL and 0xff instead of a magic number.
    let input = b"\x1b[2J\x07\x00\xff\xfe\r\nnot a capture, but long enough to be read as one";
    let outcome = mine("terminal.bin", input);
    let message = outcome.error.unwrap();
    assert!(printable(&message), "{message:?}");
    assert!(message.contains("terminal.bin"), "{message}");
    assert!(message.contains("1b5b324a"), "{message}");
    assert_eq!(outcome.values, Values::new());
}
