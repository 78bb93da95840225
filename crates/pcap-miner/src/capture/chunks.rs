//! Splitting a capture into chunks of whole records, so that several threads
//! can decode it at once.
//!
//! A [`Framer`] walks the records in capture order, one chunk after another,
//! and carries the reader state from chunk to chunk: byte order, link types
//! and timestamp units of pcapng interfaces, the packet count. It reads
//! records with the pcap-parser functions and checks [`CaptureReader`] uses.
//! It stops at the first record it cannot take as it is (damage, a file cut
//! short, a record over the length limit) and names the offset. A
//! `CaptureReader` resumed there reads the rest with its own error messages
//! and resynchronisation, so the result is the same as with one reader.

use std::io::{self, Read};

use pcap_parser::nom;
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock,
};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, parse_sectionheaderblock, Block};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::reader::{self, Record, State, LEGACY_RECORD_HEADER_LEN};
use super::{CaptureError, CaptureFormat, CaptureReader, Packet, MAX_RECORD_LEN};

/// Most bytes handed to the format check at the start, as [`CaptureReader`] reads at first.
const FIRST_READ_LEN: usize = 1 << 20;

type LegacyParse = fn(&[u8]) -> nom::IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// Capture bytes held for one chunk, from offset `base` of the capture.
///
/// The buffer is kept from chunk to chunk and never zeroed again: only the
/// first `len` bytes are the chunk's.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    storage: Vec<u8>,
    len: usize,
    pub(crate) base: u64,
}

impl Chunk {
    /// Empties the chunk, which now starts at capture offset `base`.
    pub(crate) fn start_at(&mut self, base: u64) {
        self.base = base;
        self.len = 0;
    }

    /// Returns the chunk's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.storage[..self.len]
    }

    /// Returns the capture offset just past the chunk's bytes.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.len as u64
    }

    /// Frees the buffer beyond `max_len` bytes, kept after a chunk that had to hold a long record.
    pub(crate) fn shrink_to(&mut self, max_len: usize) {
        if self.storage.len() > max_len {
            self.storage.truncate(max_len);
            self.storage.shrink_to_fit();
            self.len = self.len.min(max_len);
        }
    }

    /// Appends bytes already read.
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if self.storage.len() < end {
            self.storage.resize(end, 0);
        }
        self.storage[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Reads from `input` until the chunk contains `target_len` bytes or the input
    /// ends. Returns how many bytes were added.
    pub(crate) fn fill_from(
        &mut self,
        input: &mut dyn Read,
        target_len: usize,
    ) -> io::Result<usize> {
        let before = self.len;
        if self.storage.len() < target_len {
            self.storage.resize(target_len, 0);
        }
        while self.len < target_len {
            match input.read(&mut self.storage[self.len..target_len]) {
                Ok(0) => break,
                Ok(read) => self.len += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(self.len - before)
    }
}

/// A source of more capture bytes for a chunk whose last record goes past what was read.
pub(crate) trait MoreBytes {
    /// Appends the bytes that follow the chunk's in the capture until it contains
    /// `target_len` bytes or the capture ends. Returns how many were appended.
    fn read_more(&mut self, chunk: &mut Chunk, target_len: usize) -> io::Result<usize>;
}

/// One packet of a chunk: where its bytes lie in the chunk, and what the reader knows of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FramedPacket {
    pub(crate) number: u64,
    pub(crate) offset: u64,
    pub(crate) link_type: u32,
    pub(crate) timestamp_ns: u64,
    pub(crate) original_len: u32,
    pub(crate) data_start: usize,
    pub(crate) data_len: usize,
}

impl FramedPacket {
    /// Returns the packet with its bytes borrowed from the chunk's data.
    pub(crate) fn packet<'a>(&self, chunk: &'a [u8]) -> Packet<'a> {
        Packet {
            number: self.number,
            offset: self.offset,
            link_type: self.link_type,
            timestamp_ns: self.timestamp_ns,
            original_len: self.original_len,
            data: chunk
                .get(self.data_start..self.data_start + self.data_len)
                .unwrap_or_default(),
        }
    }
}

/// Outcome of framing a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framed {
    /// Every record starting in the chunk's range was taken, and the next chunk goes on.
    Next,
    /// The capture ended after a whole record.
    End,
    /// The record at this offset cannot be taken as it is, so a resumed reader goes on there.
    Stop { offset: u64 },
}

/// Outcome of reading one record.
enum Step {
    Record { len: usize, record: Record },
    End,
    Stop,
}

/// Reads records chunk by chunk, in capture order.
pub(crate) struct Framer {
    format: CaptureFormat,
    state: State,
    legacy_parse: LegacyParse,
    /// The pcap file header, or the current pcapng section header block: a resumed reader reads it first.
    header: Vec<u8>,
    /// Capture offset of the next record.
    next_offset: u64,
}

impl Framer {
    /// Starts on the first bytes of a capture. Returns `None` when they are not the
    /// start of a pcap or pcapng file that [`CaptureReader`] would accept.
    pub(crate) fn start(first: &[u8]) -> Option<Framer> {
        let first = &first[..first.len().min(FIRST_READ_LEN)];
        if parse_sectionheaderblock(first).is_ok() {
            // The section header block is read as the first record.
            return Some(Framer {
                format: CaptureFormat::PcapNg,
                state: State::default(),
                legacy_parse: parse_pcap_frame,
                header: Vec::new(),
                next_offset: 0,
            });
        }
        let (rest, header) = parse_pcap_header(first).ok()?;
        let header_len = first.len() - rest.len();
        let legacy_parse: LegacyParse = if header.is_modified_format() {
            parse_pcap_frame_modified
        } else if header.is_bigendian() {
            parse_pcap_frame_be
        } else {
            parse_pcap_frame
        };
        let mut state = State::default();
        let block = PcapBlockOwned::from(header);
        reader::classify(&mut state, header_len, block, first.as_ptr() as usize);
        Some(Framer {
            format: CaptureFormat::Pcap,
            state,
            legacy_parse,
            header: first[..header_len].to_vec(),
            next_offset: header_len as u64,
        })
    }

    /// Returns the capture offset of the next record.
    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Returns the number of packets framed so far.
    pub(crate) fn packets(&self) -> u64 {
        self.state.packets
    }

    /// Returns the number of packet blocks skipped because their interface was never described.
    pub(crate) fn orphan_packets(&self) -> u64 {
        self.state.orphan_packets
    }

    /// Takes every record that starts before capture offset `range_end` and
    /// pushes its packets. When the last record goes on past the chunk's
    /// data, the rest is read through `more`.
    pub(crate) fn frame(
        &mut self,
        chunk: &mut Chunk,
        range_end: u64,
        more: &mut dyn MoreBytes,
        packets: &mut Vec<FramedPacket>,
    ) -> Framed {
        while self.next_offset < range_end {
            let Some(start) = self
                .next_offset
                .checked_sub(chunk.base)
                .and_then(|start| usize::try_from(start).ok())
            else {
                return Framed::Stop {
                    offset: self.next_offset,
                };
            };
            match self.record(chunk, start, more) {
                Step::Record { len, record } => {
                    if let Record::Packet {
                        data_start,
                        data_len,
                        link_type,
                        timestamp_ns,
                        original_len,
                        ..
                    } = record
                    {
                        self.state.packets += 1;
                        packets.push(FramedPacket {
                            number: self.state.packets,
                            offset: self.next_offset,
                            link_type,
                            timestamp_ns,
                            original_len,
                            data_start: start + data_start,
                            data_len,
                        });
                    }
                    self.next_offset += len as u64;
                }
                Step::End => return Framed::End,
                Step::Stop => {
                    return Framed::Stop {
                        offset: self.next_offset,
                    }
                }
            }
        }
        Framed::Next
    }

    /// Reads the record at `start` in the chunk, reading more bytes as the parser requests.
    fn record(&mut self, chunk: &mut Chunk, start: usize, more: &mut dyn MoreBytes) -> Step {
        loop {
            let available = chunk.bytes().get(start..).unwrap_or_default();
            if self.implausible_legacy_record(available) {
                return Step::Stop;
            }
            // The reader takes a second file header, and the rest is left to it.
            if self.format == CaptureFormat::Pcap
                && reader::starts_repeated_file_header(&self.state, available)
            {
                return Step::Stop;
            }
            let base = available.as_ptr() as usize;
            let parsed = match self.format {
                CaptureFormat::Pcap => (self.legacy_parse)(available)
                    .map(|(rest, block)| (rest.len(), PcapBlockOwned::from(block))),
                CaptureFormat::PcapNg => {
                    let parse = if self.state.big_endian {
                        parse_block_be
                    } else {
                        parse_block_le
                    };
                    parse(available).map(|(rest, block)| (rest.len(), PcapBlockOwned::from(block)))
                }
            };
            let needed = match parsed {
                Ok((rest_len, block)) => {
                    let len = available.len() - rest_len;
                    if let PcapBlockOwned::NG(Block::SectionHeader(_)) = &block {
                        self.header = available[..len].to_vec();
                    }
                    let record = reader::classify(&mut self.state, len, block, base);
                    return Step::Record { len, record };
                }
                Err(nom::Err::Incomplete(nom::Needed::Size(needed))) => needed.get(),
                Err(nom::Err::Incomplete(nom::Needed::Unknown)) => 1,
                Err(_) => return Step::Stop,
            };

            // A longer record is damage, and the resumed reader reports it.
            let have = available.len();
            if have.saturating_add(needed) > MAX_RECORD_LEN {
                return Step::Stop;
            }
            match more.read_more(chunk, start + have + needed) {
                Ok(0) if have == 0 => return Step::End,
                Ok(0) | Err(_) => return Step::Stop,
                Ok(_) => {}
            }
        }
    }

    /// Tells whether a pcap record header declares more than the snap length allows, as the reader checks.
    fn implausible_legacy_record(&self, available: &[u8]) -> bool {
        if self.format != CaptureFormat::Pcap || self.state.max_caplen == 0 {
            return false;
        }
        let Some(field) = available
            .get(8..12)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        else {
            return false;
        };
        let caplen = if self.state.big_endian {
            u32::from_be_bytes(field)
        } else {
            u32::from_le_bytes(field)
        };
        caplen > self.state.max_caplen && available.len() >= LEGACY_RECORD_HEADER_LEN
    }

    /// Returns a reader that goes on from the next record. `rest` must start at [`next_offset`](Self::next_offset).
    pub(crate) fn resume<'r, R: Read + Send + 'r>(
        &self,
        rest: R,
    ) -> Result<CaptureReader<'r>, CaptureError> {
        CaptureReader::resume(
            self.header.clone(),
            rest,
            self.state.clone(),
            self.next_offset,
        )
    }
}

#[cfg(test)]
mod tests;
