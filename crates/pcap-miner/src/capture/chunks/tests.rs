use std::path::{Path, PathBuf};

use super::*;

/// Reads more bytes from a capture held in memory.
struct InMemory<'a>(&'a [u8]);

impl MoreBytes for InMemory<'_> {
    fn read_more(&mut self, chunk: &mut Chunk, target_len: usize) -> io::Result<usize> {
        let from = (chunk.end() as usize).min(self.0.len());
        let to = (chunk.base as usize + target_len)
            .min(self.0.len())
            .max(from);
        chunk.push_bytes(&self.0[from..to]);
        Ok(to - from)
    }
}

/// What a reader hands out for one packet.
type Seen = (u64, u64, u32, u64, u32, Vec<u8>);

fn seen(packet: &Packet<'_>) -> Seen {
    (
        packet.number,
        packet.offset,
        packet.link_type,
        packet.timestamp_ns,
        packet.original_len,
        packet.data.to_vec(),
    )
}

/// Packets and error texts of a reader, to its end.
fn drain(reader: &mut CaptureReader<'_>, into: &mut Vec<Seen>) -> Vec<String> {
    let mut errors = Vec::new();
    loop {
        match reader.next_packet() {
            Ok(Some(packet)) => into.push(seen(&packet)),
            Ok(None) => break,
            Err(error) => {
                errors.push(error.to_string());
                if reader.is_finished() {
                    break;
                }
            }
        }
    }
    errors.push(format!(
        "end at {}, {} orphans",
        reader.offset(),
        reader.orphan_packets()
    ));
    errors
}

fn with_one_reader(data: &[u8]) -> (Vec<Seen>, Vec<String>) {
    let mut packets = Vec::new();
    let errors = match CaptureReader::new(data) {
        Ok(mut reader) => drain(&mut reader, &mut packets),
        Err(error) => vec![error.to_string()],
    };
    (packets, errors)
}

/// Frames `data` in chunks of `chunk_len` bytes, then reads the rest with a resumed reader.
///
/// Also returns whether the framer took the whole capture.
fn with_framer(data: &[u8], chunk_len: usize) -> (Vec<Seen>, Vec<String>, bool) {
    let Some(mut framer) = Framer::start(data) else {
        let (packets, errors) = with_one_reader(data);
        return (packets, errors, false);
    };
    let mut packets = Vec::new();
    let mut index = 0u64;
    loop {
        let base = index * chunk_len as u64;
        let mut chunk = Chunk::default();
        chunk.start_at(base);
        InMemory(data).read_more(&mut chunk, chunk_len).unwrap();
        let mut framed_packets = Vec::new();
        let framed = framer.frame(
            &mut chunk,
            base + chunk_len as u64,
            &mut InMemory(data),
            &mut framed_packets,
        );
        packets.extend(
            framed_packets
                .iter()
                .map(|framed| seen(&framed.packet(chunk.bytes()))),
        );
        match framed {
            Framed::Next => index += 1,
            Framed::End => {
                let end = format!(
                    "end at {}, {} orphans",
                    framer.next_offset(),
                    framer.orphan_packets()
                );
                return (packets, vec![end], true);
            }
            Framed::Stop { offset } => {
                assert_eq!(offset, framer.next_offset());
                let rest = &data[offset as usize..];
                let mut reader = framer.resume(rest).unwrap();
                let errors = drain(&mut reader, &mut packets);
                return (packets, errors, false);
            }
        }
    }
}

const CHUNK_LENS: [usize; 7] = [1, 3, 16, 100, 1500, 65_536, 1 << 20];

fn assert_same_as_one_reader(data: &[u8], what: &str) -> bool {
    assert_same_in_chunks(data, what, &CHUNK_LENS)
}

/// Checks that framing in chunks of each length gives what one reader gives.
/// Returns whether the framer took the whole capture every time.
fn assert_same_in_chunks(data: &[u8], what: &str, chunk_lens: &[usize]) -> bool {
    let expected = with_one_reader(data);
    let mut whole = true;
    for &chunk_len in chunk_lens {
        let (packets, errors, took_all) = with_framer(data, chunk_len);
        assert_eq!(
            packets, expected.0,
            "{what}, chunks of {chunk_len}: packets differ"
        );
        assert_eq!(
            errors, expected.1,
            "{what}, chunks of {chunk_len}: errors differ"
        );
        whole &= took_all;
    }
    whole
}

fn pcap_record(seconds: u32, data: &[u8]) -> Vec<u8> {
    let mut record = Vec::new();
    record.extend_from_slice(&seconds.to_le_bytes());
    record.extend_from_slice(&7u32.to_le_bytes());
    record.extend_from_slice(&(data.len() as u32).to_le_bytes());
    record.extend_from_slice(&(data.len() as u32 + 4).to_le_bytes());
    record.extend_from_slice(data);
    record
}

fn pcap_file(records: usize) -> Vec<u8> {
    let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&65_535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for index in 0..records {
        let data: Vec<u8> = (0..(index * 37) % 300).map(|byte| byte as u8).collect();
        file.extend_from_slice(&pcap_record(index as u32, &data));
    }
    file
}

fn pcapng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut block = Vec::new();
    block.extend_from_slice(&kind.to_le_bytes());
    block.extend_from_slice(&total.to_le_bytes());
    block.extend_from_slice(body);
    block.resize(8 + padded, 0);
    block.extend_from_slice(&total.to_le_bytes());
    block
}

/// Builds a section header block with `comments` comment options of 65,532 bytes each.
fn section_header(comments: usize) -> Vec<u8> {
    let mut section = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    section.extend_from_slice(&[1, 0, 0, 0]);
    section.extend_from_slice(&u64::MAX.to_le_bytes());
    for _ in 0..comments {
        section.extend_from_slice(&1u16.to_le_bytes());
        section.extend_from_slice(&65_532u16.to_le_bytes());
        section.resize(section.len() + 65_532, b'c');
    }
    if comments > 0 {
        section.extend_from_slice(&[0; 4]);
    }
    pcapng_block(0x0a0d_0d0a, &section)
}

fn pcapng_file(packets: usize) -> Vec<u8> {
    let mut file = section_header(0);
    // Two interfaces: Ethernet in microseconds, raw IP in 2^-10 seconds (if_tsresol 0x8a).
    let mut ethernet = 1u32.to_le_bytes().to_vec();
    ethernet.extend_from_slice(&0u32.to_le_bytes());
    file.extend(pcapng_block(1, &ethernet));
    let mut raw = 101u32.to_le_bytes().to_vec();
    raw.extend_from_slice(&0u32.to_le_bytes());
    raw.extend_from_slice(&[9, 0, 1, 0, 0x8a, 0, 0, 0, 0, 0, 0, 0]);
    file.extend(pcapng_block(1, &raw));
    for index in 0..packets {
        let data: Vec<u8> = (0..(index * 53) % 200).map(|byte| byte as u8).collect();
        let mut body = ((index % 2) as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&(index as u32 * 1000).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&data);
        file.extend(pcapng_block(6, &body));
        if index % 5 == 0 {
            // An unknown block type, skipped by both.
            file.extend(pcapng_block(0x0bad_0001, &[1, 2, 3, 4, 5]));
        }
    }
    file
}

#[test]
fn chunk_buffer_reuse() {
    let mut chunk = Chunk::default();
    chunk.start_at(100);
    chunk.push_bytes(b"carry");
    let added = chunk.fill_from(&mut &b"abcdefgh"[..], 9).unwrap();
    assert_eq!(added, 4);
    assert_eq!(chunk.bytes(), b"carryabcd");
    assert_eq!(chunk.end(), 109);

    // A new start keeps the buffer but not the bytes, and the input's end stops filling.
    chunk.start_at(5);
    let added = chunk.fill_from(&mut &b"xy"[..], 64).unwrap();
    assert_eq!(added, 2);
    assert_eq!(chunk.bytes(), b"xy");

    chunk.shrink_to(1);
    assert_eq!(chunk.bytes(), b"x");
    chunk.push_bytes(b"z");
    assert_eq!(chunk.bytes(), b"xz");
}

#[test]
fn pcap_chunks_match_one_reader() {
    let file = pcap_file(200);
    assert!(assert_same_as_one_reader(&file, "pcap"));
}

#[test]
fn pcapng_chunks_match_one_reader() {
    let file = pcapng_file(120);
    assert!(assert_same_as_one_reader(&file, "pcapng"));
}

#[test]
fn cut_file_resumed_reader_reports() {
    let file = pcap_file(50);
    let cut = &file[..file.len() - 5];
    let (_, _, took_all) = with_framer(cut, 1000);
    assert!(!took_all);
    assert!(!assert_same_as_one_reader(cut, "cut pcap"));
}

#[test]
fn damaged_lengths_resume_alike() {
    let mut file = pcap_file(60);
    // The caplen of the record after the header and three records becomes impossible.
    let mut at = 24;
    for _ in 0..3 {
        let caplen = u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap());
        at += 16 + caplen as usize;
    }
    file[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    assert!(!assert_same_as_one_reader(&file, "damaged pcap"));

    let mut file = pcapng_file(40);
    let trailer = file.len() - 4 - 400;
    file[trailer] ^= 0x55;
    assert_same_as_one_reader(&file, "damaged pcapng");
}

#[test]
fn section_header_over_first_buffer() {
    // More than the reader's first 1 MiB buffer, first in the file and in the middle.
    let big = section_header(17);
    assert!(big.len() > 1 << 20);
    let small = pcapng_file(30);
    let mut file = big.clone();
    file.extend_from_slice(&small[section_header(0).len()..]);
    let (packets, errors) = with_one_reader(&file);
    assert_eq!(packets.len(), 30, "{errors:?}");

    let mut file = pcapng_file(30);
    file.extend_from_slice(&big);
    file.extend_from_slice(&pcapng_file(20)[section_header(0).len()..]);
    let end = file.len();
    // Damage after the big section header makes the framer stop and resume there.
    let trailer = end - 4 - 300;
    file[trailer] ^= 0x55;
    let (packets, errors) = with_one_reader(&file);
    assert!(packets.len() > 40, "{errors:?}");
    assert_same_in_chunks(&file, "big section header", &[100_000, 1 << 20]);
}

#[test]
fn records_at_length_limit() {
    // Records whose header and data come to the limit, after a file header and after a long record.
    let mut file = pcap_file(3);
    file[16..20].copy_from_slice(&(MAX_RECORD_LEN as u32).to_le_bytes());
    for len in [MAX_RECORD_LEN - 1, MAX_RECORD_LEN, MAX_RECORD_LEN] {
        file.extend_from_slice(&pcap_record(9, &vec![0x45; len - 16]));
        file.extend_from_slice(&pcap_record(10, &[1, 2, 3]));
    }
    let (packets, errors) = with_one_reader(&file);
    assert_eq!(packets.len(), 9, "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_same_in_chunks(&file, "records at the length limit", &[65_536, 1 << 20]);

    // One byte more is damage, whatever came before.
    let mut file = pcap_file(3);
    file[16..20].copy_from_slice(&(MAX_RECORD_LEN as u32).to_le_bytes());
    file.extend_from_slice(&pcap_record(9, &vec![0x45; MAX_RECORD_LEN - 15]));
    file.extend_from_slice(&pcap_record(10, &[1, 2, 3]));
    let (_, errors) = with_one_reader(&file);
    assert!(errors[0].contains("more than the limit"), "{errors:?}");
    assert_same_in_chunks(&file, "record over the length limit", &[65_536, 1 << 20]);
}

#[test]
fn every_prefix_matches_one_reader() {
    for file in [pcap_file(12), pcapng_file(8)] {
        for len in 0..file.len() {
            assert_same_in_chunks(&file[..len], &format!("prefix of {len} bytes"), &[5, 200]);
        }
    }
}

fn captures_under(folder: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            captures_under(&path, into);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "pcap" || extension == "pcapng")
        {
            into.push(path);
        }
    }
}

#[test]
fn own_corpus_chunks_match_one_reader() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let mut captures = Vec::new();
    captures_under(&corpus, &mut captures);
    assert!(
        captures.len() >= 10,
        "corpus not found at {}",
        corpus.display()
    );
    for capture in captures {
        let data = std::fs::read(&capture).unwrap();
        assert_same_as_one_reader(&data, &capture.display().to_string());
    }
}
