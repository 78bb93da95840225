//! Finding the next plausible record after damage in the middle of a file.
//!
//! A pcap record header has no marker, so a candidate must look like a real
//! record (lengths within the snap length, a sub-second field below one
//! second, a timestamp near the last good one) and be followed by another such
//! record or by the end of the file. A pcapng block repeats its length at its
//! end, which makes a candidate easy to confirm.

/// Facts about the file that tell a plausible record from noise.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plausibility {
    pub big_endian: bool,
    /// Largest caplen a record may declare.
    pub max_caplen: u32,
    /// Sub-second field unit is nanoseconds (pcap) rather than microseconds.
    pub nanosecond: bool,
    /// Seconds of the last good record, if any.
    pub last_seconds: Option<u32>,
    /// Interfaces described in the current pcapng section.
    pub interfaces: usize,
}

/// Result of scanning the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A plausible record starts at this offset.
    Found(usize),
    /// Nothing plausible before this offset; more bytes are needed to judge the rest.
    NeedMore(usize),
}

/// A pcap record may be this far in time from the last good one.
const MAX_TIME_JUMP_SECONDS: u32 = 7 * 24 * 3600;

/// Largest record a resynchronising scan accepts as a candidate. Real frames
/// stay far below it. The bound keeps every confirmation within a short
/// look-ahead, so a scan through crafted filler stays linear in its length.
pub(crate) const MAX_CANDIDATE_LEN: u32 = 256 * 1024;

const PCAP_RECORD_HEADER_LEN: usize = 16;

fn read_u32(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// Returns the caplen of a pcap record header at `at` if the header is plausible.
fn pcap_header(data: &[u8], at: usize, facts: &Plausibility) -> Option<u32> {
    let seconds = read_u32(data, at, facts.big_endian)?;
    let fraction = read_u32(data, at + 4, facts.big_endian)?;
    let caplen = read_u32(data, at + 8, facts.big_endian)?;
    let original_len = read_u32(data, at + 12, facts.big_endian)?;
    let fraction_limit = if facts.nanosecond {
        1_000_000_000
    } else {
        1_000_000
    };
    let near_in_time = facts
        .last_seconds
        .is_none_or(|last| seconds.abs_diff(last) <= MAX_TIME_JUMP_SECONDS);
    let plausible = fraction < fraction_limit
        && caplen <= facts.max_caplen.min(MAX_CANDIDATE_LEN)
        && caplen <= original_len
        && original_len <= facts.max_caplen.max(65_535) * 4
        && near_in_time;
    plausible.then_some(caplen)
}

/// Scans for a pcap record confirmed by the record after it (or by the end of the input).
pub(crate) fn scan_pcap(data: &[u8], start: usize, exhausted: bool, facts: &Plausibility) -> Scan {
    let mut at = start;
    while at + PCAP_RECORD_HEADER_LEN <= data.len() {
        if let Some(caplen) = pcap_header(data, at, facts) {
            let next = at + PCAP_RECORD_HEADER_LEN + caplen as usize;
            if next == data.len() && exhausted {
                return Scan::Found(at);
            }
            if next + PCAP_RECORD_HEADER_LEN > data.len() {
                if !exhausted {
                    return Scan::NeedMore(at);
                }
            } else if pcap_header(data, next, facts).is_some() {
                return Scan::Found(at);
            }
        }
        at += 1;
    }
    Scan::NeedMore(at)
}

/// pcapng block types a resynchronised reader accepts.
const PCAPNG_KNOWN_BLOCKS: [u32; 7] = [
    SECTION_HEADER_BLOCK,
    0x0000_0001, // interface description
    0x0000_0003, // simple packet
    0x0000_0004, // name resolution
    0x0000_0005, // interface statistics
    0x0000_0006, // enhanced packet
    0x0000_000a, // decryption secrets
];

/// Scans every offset for a pcapng block whose trailing length repeats its leading one.
///
/// Valid blocks start 4-byte aligned, but garbage of any length may have shifted them.
///
/// Before `sections_only_until`, only section header blocks are candidates.
pub(crate) fn scan_pcapng(
    data: &[u8],
    start: usize,
    sections_only_until: usize,
    exhausted: bool,
    facts: &Plausibility,
) -> Scan {
    let mut at = start;
    while at + 12 <= data.len() {
        if at < sections_only_until && read_u32(data, at, false) != Some(SECTION_HEADER_BLOCK) {
            at += 1;
            continue;
        }
        match pcapng_candidate(data, at, MAX_CANDIDATE_LEN as usize, facts) {
            Some(true) => return Scan::Found(at),
            // A block running past the end of the input is no candidate.
            None if exhausted => at += 1,
            None => return Scan::NeedMore(at),
            Some(false) => at += 1,
        }
    }
    Scan::NeedMore(at)
}

/// `Some(true)` for a confirmed block, `Some(false)` for none, `None` when the block's end is not in `data` yet.
fn pcapng_candidate(data: &[u8], at: usize, max_len: usize, facts: &Plausibility) -> Option<bool> {
    let block_type = read_u32(data, at, facts.big_endian)?;
    if block_type == SECTION_HEADER_BLOCK {
        return section_header_candidate(data, at, max_len);
    }
    let len = read_u32(data, at + 4, facts.big_endian)? as usize;
    if !PCAPNG_KNOWN_BLOCKS.contains(&block_type) || len < 12 || len % 4 != 0 || len > max_len {
        return Some(false);
    }
    if block_type == 0x0000_0006 {
        let interface = read_u32(data, at + 8, facts.big_endian)? as usize;
        if interface >= facts.interfaces {
            return Some(false);
        }
    }
    let trailing = read_u32(data, at + len - 4, facts.big_endian)?;
    Some(trailing as usize == len)
}

const SECTION_HEADER_BLOCK: u32 = 0x0a0d_0d0a;

/// Confirms a section header block in the byte order its own magic gives, as a
/// new section may use either.
fn section_header_candidate(data: &[u8], at: usize, max_len: usize) -> Option<bool> {
    let big_endian = match data.get(at + 8..at + 12)? {
        [0x1a, 0x2b, 0x3c, 0x4d] => true,
        [0x4d, 0x3c, 0x2b, 0x1a] => false,
        _ => return Some(false),
    };
    let len = read_u32(data, at + 4, big_endian)? as usize;
    if len < 28 || len % 4 != 0 || len > max_len {
        return Some(false);
    }
    let trailing = read_u32(data, at + len - 4, big_endian)?;
    Some(trailing as usize == len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seconds: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for value in [seconds, 5, payload.len() as u32, payload.len() as u32] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    fn facts() -> Plausibility {
        Plausibility {
            max_caplen: 262_144,
            last_seconds: Some(1_000_000),
            interfaces: 1,
            ..Plausibility::default()
        }
    }

    #[test]
    fn scan_pcap_skips_garbage_to_confirmed_record() {
        let mut data = vec![0xff; 37];
        data.extend(record(1_000_001, b"abcdef"));
        data.extend(record(1_000_002, b"gh"));
        assert_eq!(scan_pcap(&data, 0, true, &facts()), Scan::Found(37));
    }

    #[test]
    fn scan_pcap_end_confirms_last_record() {
        let mut data = vec![0xff; 5];
        data.extend(record(1_000_001, b"abcdef"));
        assert_eq!(scan_pcap(&data, 0, true, &facts()), Scan::Found(5));
        assert_eq!(scan_pcap(&data, 0, false, &facts()), Scan::NeedMore(5));
    }

    #[test]
    fn scan_pcap_rejects_far_timestamps() {
        let mut data = vec![0xff; 3];
        data.extend(record(5, b"abcdef"));
        data.extend(record(6, b"gh"));
        assert_eq!(
            scan_pcap(&data, 0, true, &facts()),
            Scan::NeedMore(data.len() - 15)
        );
    }

    #[test]
    fn scan_pcapng_confirms_trailing_length() {
        let mut data = vec![0u8; 8];
        let mut block = Vec::new();
        for value in [6u32, 32, 0, 0, 0, 0, 0] {
            block.extend_from_slice(&value.to_le_bytes());
        }
        block.extend_from_slice(&32u32.to_le_bytes());
        data.extend(&block);
        assert_eq!(scan_pcapng(&data, 0, 0, false, &facts()), Scan::Found(8));
        assert_eq!(
            scan_pcapng(&data[..20], 0, 0, false, &facts()),
            Scan::NeedMore(8)
        );
        // At the end of the input, a block that does not fit is skipped.
        assert_eq!(
            scan_pcapng(&data[..20], 0, 0, true, &facts()),
            Scan::NeedMore(9)
        );
        // Garbage of any length may come before the block.
        let mut shifted = vec![0xffu8; 7];
        shifted.extend(&block);
        assert_eq!(scan_pcapng(&shifted, 0, 0, false, &facts()), Scan::Found(7));
    }

    #[test]
    fn scan_pcapng_sections_only_region() {
        let mut data = vec![0u8; 8];
        for value in [6u32, 32, 0, 0, 0, 0, 0, 32] {
            data.extend_from_slice(&value.to_le_bytes());
        }
        // The packet block at 8 is passed over, and the end of the input is reached.
        assert_eq!(
            scan_pcapng(&data, 0, 20, true, &facts()),
            Scan::NeedMore(29)
        );
        assert_eq!(scan_pcapng(&data, 0, 8, true, &facts()), Scan::Found(8));
    }

    #[test]
    fn scan_pcapng_finds_section_of_other_byte_order() {
        let mut data = vec![0xffu8; 20];
        let mut block = Vec::new();
        for value in [
            0x0a0d_0d0au32,
            28,
            0x1a2b_3c4d,
            0x0000_0001,
            0xffff_ffff,
            0xffff_ffff,
            28,
        ] {
            block.extend_from_slice(&value.to_be_bytes());
        }
        data.extend(&block);
        assert_eq!(scan_pcapng(&data, 0, 0, true, &facts()), Scan::Found(20));
    }
}
