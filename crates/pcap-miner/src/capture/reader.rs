//! Streaming reader over pcap-parser's buffered block readers.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;

use super::resync::{self, Plausibility, Scan};
use pcap_parser::{PcapBlockOwned, PcapError};

/// Initial size of the read buffer.
const INITIAL_BUFFER_LEN: usize = 1 << 20;

/// Largest record (pcap record or pcapng block) the reader accepts, in bytes.
///
/// Real link layers stay far below this (jumbo frames and 802.11 A-MSDU are
/// under 64 KiB, and tcpdump's default snap length is 256 KiB), so a larger
/// declared length means the file is damaged.
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// Largest read buffer. pcap-parser requests room beyond the record it
/// parses, so a buffer of exactly [`MAX_RECORD_LEN`] bytes does not always
/// hold a record of that length.
const MAX_BUFFER_LEN: usize = 2 * MAX_RECORD_LEN;

/// A pcap record may always declare this many bytes, whatever snap length the
/// header gives (writers are known to put 0 or a small value there).
pub(super) const LEGACY_MIN_CAPLEN_LIMIT: u32 = 256 * 1024;

/// Bytes of a pcap record header.
pub(super) const LEGACY_RECORD_HEADER_LEN: usize = 16;

/// Bytes of a pcap file header.
pub(super) const LEGACY_FILE_HEADER_LEN: usize = 24;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Packet number, starting at 1 as Wireshark counts.
    pub number: u64,
    /// Byte offset of the record in the capture file.
    pub offset: u64,
    /// LINKTYPE_* value of the interface the frame was captured on.
    pub link_type: u32,
    /// Capture time in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Length of the frame on the wire; larger than `data.len()` when the
    /// snap length cut it.
    pub original_len: u32,
    /// Captured bytes of the frame.
    pub data: &'a [u8],
}

/// File format detected from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng, any number of sections.
    PcapNg,
}

/// Reading a capture failed at a known place.
#[derive(Debug, thiserror::Error)]
#[error("packet {packet}, byte offset {offset}: {kind}{recovery}")]
pub struct CaptureError {
    /// Number of the packet being read when the error occurred (packets read so far + 1).
    pub packet: u64,
    /// Byte offset of the record that could not be read.
    pub offset: u64,
    /// The problem found.
    #[source]
    pub kind: CaptureErrorKind,
    /// Whether reading went on after the damage.
    pub recovery: Recovery,
}

/// The reader's action after damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Reading stopped here.
    Stopped,
    /// This many bytes were skipped to the next plausible record, where reading went on.
    Resumed { skipped: u64 },
    /// No plausible record followed: the rest of the input, this many bytes, was skipped.
    SkippedToEnd { skipped: u64 },
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovery::Stopped => Ok(()),
            Recovery::Resumed { skipped } => {
                write!(
                    f,
                    "; skipped {skipped} bytes to the next plausible record and went on reading"
                )
            }
            Recovery::SkippedToEnd { skipped } => {
                write!(
                    f,
                    "; no plausible record follows, the remaining {skipped} bytes were skipped"
                )
            }
        }
    }
}

/// The problem found in a capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureErrorKind {
    /// The input contains no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The first bytes are not a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file (first bytes {magic}); convert other formats with editcap")]
    NotACapture {
        /// First four bytes, hex-encoded.
        magic: String,
    },
    /// The file ends inside its file header (pcap) or first section header block (pcapng).
    #[error("the file header is cut short ({present} bytes present)")]
    HeaderTruncated {
        /// Bytes of the header present in the file.
        present: usize,
    },
    /// The file ends inside a record.
    #[error("the file is cut short inside a record ({present} bytes present)")]
    Truncated {
        /// Bytes of the unfinished record present in the file.
        present: usize,
    },
    /// A record declares a length no real capture has.
    #[error("record declares {declared} bytes, more than the limit of {limit} bytes")]
    RecordTooLong {
        /// Length declared in the record header.
        declared: u64,
        /// The file's snap length (at least 256 KiB) for pcap, [`MAX_RECORD_LEN`] for pcapng.
        limit: usize,
    },
    /// A record declares more bytes than the file has left, yet records follow it.
    #[error("record declares {declared} bytes, but only {present} bytes are left in the file")]
    RecordPastEnd {
        /// Length declared in the record header (with the pcap record header).
        declared: u64,
        /// Bytes left in the file from the record's start.
        present: usize,
    },
    /// A pcapng block is malformed.
    #[error("invalid {format} record: {reason}")]
    InvalidRecord {
        /// "pcap" or "pcapng".
        format: &'static str,
        /// Parser's reason, without input bytes.
        reason: String,
    },
    /// Reading the input failed.
    #[error("read failed: {0}")]
    Io(#[source] io::Error),
}

/// Per-interface facts of a pcapng section.
#[derive(Debug, Clone, Copy)]
pub(super) struct Interface {
    link_type: u32,
    /// Timestamp units per second.
    ts_units_per_second: u64,
    ts_offset_seconds: i64,
}

/// Reader state that block handling updates while pcap-parser's buffer is borrowed.
#[derive(Debug, Clone, Default)]
pub(super) struct State {
    pub(super) legacy_link_type: u32,
    pub(super) legacy_nanosecond: bool,
    /// First four bytes of the pcap file header, in the file's byte order.
    pub(super) legacy_magic: [u8; 4],
    /// Byte order of the pcap file or of the current pcapng section.
    pub(super) big_endian: bool,
    /// Largest caplen a pcap record may declare: the snap length, at least 256 KiB.
    pub(super) max_caplen: u32,
    /// Seconds of the last packet read from a pcap file.
    pub(super) last_seconds: Option<u32>,
    pub(super) interfaces: Vec<Interface>,
    /// Packets returned so far.
    pub(super) packets: u64,
    /// Packet blocks skipped because they name an interface the section does not describe.
    pub(super) orphan_packets: u64,
}

/// A block that resynchronisation resumed at.
#[derive(Debug, Clone, Copy)]
struct Resumed {
    /// Capture offset of the block.
    offset: u64,
    /// Capture offset where the block, or the damaged block it was found in, ends.
    end: u64,
    /// Whether it was found in full scanning, so that a section header block
    /// inside it may still be taken should it be damaged.
    sections_inside: bool,
}

/// Kind of one record, with the offsets a packet needs.
pub(super) enum Record {
    Packet {
        record_len: usize,
        data_start: usize,
        data_len: usize,
        link_type: u32,
        timestamp_ns: u64,
        original_len: u32,
    },
    Other {
        record_len: usize,
    },
}

/// Streams packets out of a pcap or pcapng capture.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    format: CaptureFormat,
    state: State,
    /// Bytes of the record returned last, consumed on the next call.
    pending_consume: usize,
    buffer_len: usize,
    io_error: Arc<Mutex<Option<io::Error>>>,
    finished: bool,
    /// Capture offset of the first byte pcap-parser reads, minus the bytes of a replayed header.
    offset_base: u64,
    /// The last block that resynchronisation resumed at, in case it turns out damaged too.
    resumed_at: Option<Resumed>,
}

impl<'r> CaptureReader<'r> {
    /// Opens a capture from any reader; the format is detected from its magic number.
    pub fn new<R: Read + Send + 'r>(input: R) -> Result<Self, CaptureError> {
        let io_error = Arc::new(Mutex::new(None));
        let mut input = input;
        // Keep the first bytes: they name the format, the length of a pcapng
        // section header block, and themselves if the format is unknown.
        let mut head = [0u8; 12];
        let mut head_len = 0;
        while head_len < head.len() {
            match input.read(&mut head[head_len..]) {
                Ok(0) => break,
                Ok(read) => head_len += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(CaptureError {
                        packet: 1,
                        offset: 0,
                        kind: CaptureErrorKind::Io(error),
                        recovery: Recovery::Stopped,
                    })
                }
            }
        }
        let head = &head[..head_len];
        let magic = &head[..head_len.min(4)];

        // pcap-parser checks the first section header block in its first
        // buffer, so that buffer must hold the whole block.
        let first_block_len = section_header_len(head).unwrap_or(0);
        if first_block_len > MAX_RECORD_LEN as u64 {
            return Err(CaptureError {
                packet: 1,
                offset: 0,
                kind: CaptureErrorKind::RecordTooLong {
                    declared: first_block_len,
                    limit: MAX_RECORD_LEN,
                },
                recovery: Recovery::Stopped,
            });
        }
        let buffer_len = (first_block_len as usize + 1)
            .next_power_of_two()
            .clamp(INITIAL_BUFFER_LEN, MAX_BUFFER_LEN);

        let read = Arc::new(AtomicU64::new(0));
        let filling = FillingReader {
            inner: io::Cursor::new(head.to_vec()).chain(input),
            error: Arc::clone(&io_error),
            read: Arc::clone(&read),
        };
        let inner = match pcap_parser::create_reader(buffer_len, filling) {
            Ok(inner) => inner,
            Err(error) => {
                let kind = match error {
                    PcapError::Eof => CaptureErrorKind::Empty,
                    PcapError::ReadError => CaptureErrorKind::Io(take_io_error(&io_error)),
                    _ if magic.is_empty() => CaptureErrorKind::Empty,
                    _ if magic == PCAPNG_MAGIC && head.len() >= 12 => {
                        match section_header_len(head) {
                            None => CaptureErrorKind::InvalidRecord {
                                format: "pcapng",
                                reason: format!(
                                    "unknown byte-order magic {} in the section header block",
                                    hex_prefix(&head[8..12])
                                ),
                            },
                            Some(_) => CaptureErrorKind::HeaderTruncated {
                                present: read.load(Ordering::Relaxed) as usize,
                            },
                        }
                    }
                    _ if is_capture_magic(magic) => CaptureErrorKind::HeaderTruncated {
                        present: read.load(Ordering::Relaxed) as usize,
                    },
                    _ => CaptureErrorKind::NotACapture {
                        magic: hex_prefix(magic),
                    },
                };
                return Err(CaptureError {
                    packet: 1,
                    offset: 0,
                    kind,
                    recovery: Recovery::Stopped,
                });
            }
        };
        let magic = inner.data().get(..4).unwrap_or_default();
        let format = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            CaptureFormat::PcapNg
        } else {
            CaptureFormat::Pcap
        };
        Ok(CaptureReader {
            inner,
            format,
            state: State::default(),
            pending_consume: 0,
            buffer_len,
            io_error,
            finished: false,
            offset_base: 0,
            resumed_at: None,
        })
    }

    /// Goes on reading a capture at byte `offset`, where `rest` starts, in the
    /// state another reader had there. `header` is the file header (pcap) or
    /// the current section header block (pcapng), which is read again first.
    pub(super) fn resume<R: Read + Send + 'r>(
        header: Vec<u8>,
        rest: R,
        state: State,
        offset: u64,
    ) -> Result<Self, CaptureError> {
        let header_len = header.len() as u64;
        let mut reader = CaptureReader::new(io::Cursor::new(header).chain(rest))?;
        // The header record sets the byte order and, for pcapng, empties the
        // interface list; the saved state then replaces what it set.
        loop {
            let step = match reader.inner.next() {
                Ok((record_len, _)) => Ok(record_len),
                Err(error) => Err(owned_error(error)),
            };
            match step {
                Ok(record_len) => {
                    reader.inner.consume_noshift(record_len);
                    break;
                }
                Err(error) => match reader.recover(error) {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => return Err(error),
                },
            }
        }
        reader.state = state;
        reader.offset_base = offset.saturating_sub(header_len);
        Ok(reader)
    }

    /// Returns the detected file format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Returns the byte offset of the next record, which is the number of bytes read when the input is exhausted.
    pub fn offset(&self) -> u64 {
        self.offset_base + (self.inner.consumed() + self.pending_consume) as u64
    }

    /// Returns the capture offset of the next byte pcap-parser hands out.
    fn position(&self) -> u64 {
        self.offset_base + self.inner.consumed() as u64
    }

    /// Returns the number of packet blocks skipped because their interface was never described.
    pub fn orphan_packets(&self) -> u64 {
        self.state.orphan_packets
    }

    /// Reads the next packet; `Ok(None)` at the end of the capture.
    ///
    /// After damage in the middle of the file the error records whether reading
    /// resumed. once [`is_finished`](Self::is_finished) returns true, later calls return `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            if self.pending_consume > 0 {
                self.inner.consume_noshift(self.pending_consume);
                self.pending_consume = 0;
            }
            match self.skip_repeated_file_header() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => return Err(error),
            }
            if let Some(declared) = self.implausible_legacy_record() {
                let limit = self.state.max_caplen as usize;
                return Err(self.damaged(CaptureErrorKind::RecordTooLong { declared, limit }));
            }

            // Block data borrows pcap-parser's buffer, which `next` does not move.
            let base = self.inner_base();
            let step = match self.inner.next() {
                Ok((record_len, block)) => Ok(classify(&mut self.state, record_len, block, base)),
                Err(error) => Err(owned_error(error)),
            };
            let record = match step {
                Ok(record) => record,
                Err(error) => match self.recover(error) {
                    Ok(true) => continue,
                    Ok(false) => return Ok(None),
                    Err(error) => return Err(error),
                },
            };

            match record {
                Record::Other { record_len } => self.inner.consume_noshift(record_len),
                Record::Packet {
                    record_len,
                    data_start,
                    data_len,
                    link_type,
                    timestamp_ns,
                    original_len,
                } => {
                    let offset = self.position();
                    self.pending_consume = record_len;
                    self.state.packets += 1;
                    let data = self
                        .inner
                        .data()
                        .get(data_start..data_start + data_len)
                        .unwrap_or_default();
                    return Ok(Some(Packet {
                        number: self.state.packets,
                        offset,
                        link_type,
                        timestamp_ns,
                        original_len,
                        data,
                    }));
                }
            }
        }
    }

    /// Address of pcap-parser's unread data, used to turn borrowed block data into offsets.
    fn inner_base(&self) -> usize {
        self.inner.data().as_ptr() as usize
    }

    /// Handles a reader error: refills or grows the buffer (`Ok(true)`), ends the
    /// capture (`Ok(false)`), or returns the located error.
    fn recover(&mut self, error: PcapError<Vec<u8>>) -> Result<bool, CaptureError> {
        match error {
            PcapError::Eof => Ok(false),
            PcapError::Incomplete(_) => self.refill(),
            PcapError::BufferTooSmall => self.grow(),
            PcapError::UnexpectedEof => Err(self.unexpected_end()),
            PcapError::ReadError => {
                let error = take_io_error(&self.io_error);
                Err(self.error(CaptureErrorKind::Io(error)))
            }
            PcapError::HeaderNotRecognized => Err(self.error(CaptureErrorKind::NotACapture {
                magic: hex_prefix(self.inner.data()),
            })),
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                let reason = format!("block structure rejected by the parser ({kind:?})");
                Err(self.damaged(CaptureErrorKind::InvalidRecord {
                    format: self.format_name(),
                    reason,
                }))
            }
        }
    }

    fn refill(&mut self) -> Result<bool, CaptureError> {
        let before = self.inner.data().len();
        if self.inner.refill().is_err() {
            let error = take_io_error(&self.io_error);
            return Err(self.error(CaptureErrorKind::Io(error)));
        }
        if self.inner.data().len() > before || self.inner.reader_exhausted() {
            return Ok(true);
        }
        // The buffer is full but the parser still wants more: grow it. This
        // also stops pcap-parser's refill loop from spinning on a full buffer.
        self.grow()
    }

    fn grow(&mut self) -> Result<bool, CaptureError> {
        let declared = self.declared_record_len();
        if self.buffer_len >= MAX_BUFFER_LEN || declared > MAX_RECORD_LEN as u64 {
            return Err(self.damaged(CaptureErrorKind::RecordTooLong {
                declared,
                limit: MAX_RECORD_LEN,
            }));
        }
        let requested = (declared as usize + 1).max(self.buffer_len * 2);
        self.buffer_len = requested.next_power_of_two().min(MAX_BUFFER_LEN);
        self.inner.grow(self.buffer_len);
        self.refill_after_grow()
    }

    fn refill_after_grow(&mut self) -> Result<bool, CaptureError> {
        if self.inner.refill().is_err() {
            let error = take_io_error(&self.io_error);
            return Err(self.error(CaptureErrorKind::Io(error)));
        }
        Ok(true)
    }

    /// Reads the length that the record at the current position declares.
    fn declared_record_len(&self) -> u64 {
        let data = self.inner.data();
        let big_endian = self.state.big_endian;
        let (field, header) = match self.format {
            CaptureFormat::Pcap => (data.get(8..12), 16u64),
            CaptureFormat::PcapNg => (data.get(4..8), 0u64),
        };
        let Some(field) = field.and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            return 0;
        };
        let value = if big_endian {
            u32::from_be_bytes(field)
        } else {
            u32::from_le_bytes(field)
        };
        u64::from(value) + header
    }

    fn format_name(&self) -> &'static str {
        match self.format {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
    }

    fn error(&mut self, kind: CaptureErrorKind) -> CaptureError {
        self.finished = true;
        CaptureError {
            packet: self.state.packets + 1,
            offset: self.position(),
            kind,
            recovery: Recovery::Stopped,
        }
    }

    /// Returns true once reading has stopped for good.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Locates damage, then moves to the next plausible record so reading can go on.
    fn damaged(&mut self, kind: CaptureErrorKind) -> CaptureError {
        let packet = self.state.packets + 1;
        let offset = self.position();
        let recovery = self.resynchronise();
        if !matches!(recovery, Recovery::Resumed { .. }) {
            self.finished = true;
        }
        CaptureError {
            packet,
            offset,
            kind,
            recovery,
        }
    }

    /// Tells a file cut short from a damaged length field near its end: after
    /// a damaged length, a plausible record still follows in the bytes left.
    fn unexpected_end(&mut self) -> CaptureError {
        let present = self.inner.data().len();
        let declared = self.declared_record_len();
        let packet = self.state.packets + 1;
        let offset = self.position();
        let recovery = self.resynchronise();
        let kind = match recovery {
            Recovery::Resumed { .. } if declared > present as u64 => {
                CaptureErrorKind::RecordPastEnd { declared, present }
            }
            // The block fits in the file, so the damage is inside it.
            Recovery::Resumed { .. } => CaptureErrorKind::InvalidRecord {
                format: self.format_name(),
                reason: format!("the {declared}-byte record is malformed inside"),
            },
            _ => CaptureErrorKind::Truncated { present },
        };
        let recovery = match recovery {
            Recovery::Resumed { .. } => recovery,
            _ => {
                self.finished = true;
                Recovery::Stopped
            }
        };
        CaptureError {
            packet,
            offset,
            kind,
            recovery,
        }
    }

    /// Returns the declared caplen when the pcap record at the current position is impossible.
    /// Takes a pcap file header found where a record should start: its link
    /// type and snap length apply to the records after it. Returns true when
    /// the reader should look at the next record again.
    fn skip_repeated_file_header(&mut self) -> Result<bool, CaptureError> {
        if self.format != CaptureFormat::Pcap {
            return Ok(false);
        }
        let data = self.inner.data();
        if !starts_repeated_file_header(&self.state, data) {
            return Ok(false);
        }
        if data.len() < LEGACY_FILE_HEADER_LEN {
            if self.inner.reader_exhausted() {
                return Ok(false);
            }
            return self.refill();
        }
        let Ok((_, header)) = pcap_parser::parse_pcap_header(&data[..LEGACY_FILE_HEADER_LEN])
        else {
            return Ok(false);
        };
        classify(
            &mut self.state,
            LEGACY_FILE_HEADER_LEN,
            PcapBlockOwned::LegacyHeader(header),
            0,
        );
        self.inner.consume_noshift(LEGACY_FILE_HEADER_LEN);
        Ok(true)
    }

    fn implausible_legacy_record(&self) -> Option<u64> {
        if self.format != CaptureFormat::Pcap || self.state.max_caplen == 0 {
            return None;
        }
        let data = self.inner.data();
        let field: [u8; 4] = data.get(8..12)?.try_into().ok()?;
        let caplen = if self.state.big_endian {
            u32::from_be_bytes(field)
        } else {
            u32::from_le_bytes(field)
        };
        (caplen > self.state.max_caplen && data.len() >= LEGACY_RECORD_HEADER_LEN)
            .then_some(u64::from(caplen))
    }

    /// Skips bytes until a plausible record starts; reports how far it went.
    fn resynchronise(&mut self) -> Recovery {
        let facts = Plausibility {
            big_endian: self.state.big_endian,
            max_caplen: self.state.max_caplen.max(LEGACY_MIN_CAPLEN_LIMIT),
            nanosecond: self.state.legacy_nanosecond,
            last_seconds: self.state.last_seconds,
            interfaces: self.state.interfaces.len(),
        };
        // The damaged record's first byte is never a new record. When it is a
        // block the last resynchronisation resumed at, its length was a lie:
        // the scan goes on past its end, taking only a section header block
        // inside it. Crafted filler full of such blocks would otherwise be
        // parsed block after block, one byte apart.
        let damaged_at = self.position();
        let (mut skip_to, sections_only_until) = match self.resumed_at.take() {
            Some(resumed) if resumed.offset == damaged_at && resumed.sections_inside => {
                (damaged_at + 1, resumed.end)
            }
            Some(resumed) if resumed.offset == damaged_at => {
                (resumed.end.max(damaged_at + 1), damaged_at)
            }
            _ => (damaged_at + 1, damaged_at),
        };
        let mut skipped = 0u64;
        loop {
            let exhausted = self.inner.reader_exhausted();
            let position = self.position();
            let data = self.inner.data();
            let start = skip_to.saturating_sub(position) as usize;
            let sections_only = sections_only_until.saturating_sub(position) as usize;
            let scan = match self.format {
                CaptureFormat::Pcap => resync::scan_pcap(data, start, exhausted, &facts),
                CaptureFormat::PcapNg => {
                    resync::scan_pcapng(data, start, sections_only, exhausted, &facts)
                }
            };
            match scan {
                Scan::Found(at) => {
                    let found = position + at as u64;
                    let len = match self.format {
                        CaptureFormat::Pcap => 1,
                        CaptureFormat::PcapNg => read_block_len(&data[at..], facts.big_endian),
                    };
                    self.inner.consume(at);
                    self.resumed_at = Some(Resumed {
                        offset: found,
                        end: (found + len as u64).max(sections_only_until),
                        sections_inside: found >= sections_only_until,
                    });
                    return Recovery::Resumed {
                        skipped: skipped + at as u64,
                    };
                }
                Scan::NeedMore(at) => {
                    let keep_from = at.min(data.len());
                    if exhausted {
                        let rest = data.len();
                        self.inner.consume(rest);
                        return Recovery::SkippedToEnd {
                            skipped: skipped + rest as u64,
                        };
                    }
                    skip_to = skip_to.max(position + at as u64);
                    self.inner.consume(keep_from);
                    skipped += keep_from as u64;
                    if keep_from == 0 && !self.make_room_for_scan() {
                        return Recovery::Stopped;
                    }
                    if self.inner.refill().is_err() {
                        return Recovery::Stopped;
                    }
                }
            }
        }
    }

    /// Grows the buffer when a scan needs more bytes than it holds; false at the limit.
    fn make_room_for_scan(&mut self) -> bool {
        if self.inner.data().len() < self.buffer_len {
            return true;
        }
        if self.buffer_len >= MAX_RECORD_LEN {
            return false;
        }
        self.buffer_len = (self.buffer_len * 2).min(MAX_RECORD_LEN);
        self.inner.grow(self.buffer_len)
    }
}

/// Updates reader state from one block and returns whether it is a packet.
pub(super) fn classify(
    state: &mut State,
    record_len: usize,
    block: PcapBlockOwned<'_>,
    base: usize,
) -> Record {
    let start_of = |data: &[u8]| (data.as_ptr() as usize).saturating_sub(base);
    match block {
        PcapBlockOwned::LegacyHeader(header) => {
            state.legacy_link_type = header.network.0 as u32;
            state.legacy_nanosecond = header.is_nanosecond_precision();
            state.big_endian = header.is_bigendian();
            let magic = if header.is_modified_format() {
                0xa1b2_cd34u32
            } else if state.legacy_nanosecond {
                0xa1b2_3c4d
            } else {
                0xa1b2_c3d4
            };
            state.legacy_magic = if state.big_endian {
                magic.to_be_bytes()
            } else {
                magic.to_le_bytes()
            };
            state.max_caplen = header
                .snaplen
                .clamp(LEGACY_MIN_CAPLEN_LIMIT, MAX_RECORD_LEN as u32);
            Record::Other { record_len }
        }
        PcapBlockOwned::Legacy(packet) => {
            state.last_seconds = Some(packet.ts_sec);
            let subsecond_ns = if state.legacy_nanosecond {
                u64::from(packet.ts_usec)
            } else {
                u64::from(packet.ts_usec) * 1_000
            };
            Record::Packet {
                record_len,
                data_start: start_of(packet.data),
                data_len: packet.data.len(),
                link_type: state.legacy_link_type,
                timestamp_ns: u64::from(packet.ts_sec) * 1_000_000_000 + subsecond_ns,
                original_len: packet.origlen,
            }
        }
        PcapBlockOwned::NG(block) => classify_ng(state, record_len, block, base),
    }
}

/// Tells whether `data`, where a pcap record should start, starts with a file
/// header of the same format instead, as two captures joined with `cat` have.
pub(super) fn starts_repeated_file_header(state: &State, data: &[u8]) -> bool {
    state.legacy_magic != [0; 4] && data.get(..4) == Some(&state.legacy_magic[..])
}

fn classify_ng(state: &mut State, record_len: usize, block: Block<'_>, base: usize) -> Record {
    let start_of = |data: &[u8]| (data.as_ptr() as usize).saturating_sub(base);
    match block {
        Block::SectionHeader(shb) => {
            // Interface ids are numbered per section.
            state.interfaces.clear();
            state.big_endian = shb.big_endian();
            Record::Other { record_len }
        }
        Block::InterfaceDescription(idb) => {
            let big_endian = state.big_endian;
            state.interfaces.push(Interface {
                link_type: idb.linktype.0 as u32,
                ts_units_per_second: units_per_second(idb.if_tsresol).unwrap_or(1_000_000),
                ts_offset_seconds: ts_offset(&idb.options, big_endian),
            });
            Record::Other { record_len }
        }
        Block::EnhancedPacket(epb) => {
            let Some(interface) = state.interfaces.get(epb.if_id as usize).copied() else {
                state.orphan_packets += 1;
                return Record::Other { record_len };
            };
            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            Record::Packet {
                record_len,
                data_start: start_of(epb.data),
                data_len: epb.data.len().min(epb.caplen as usize),
                link_type: interface.link_type,
                timestamp_ns: ticks_to_ns(ticks, interface),
                original_len: epb.origlen,
            }
        }
        Block::SimplePacket(spb) => {
            let Some(interface) = state.interfaces.first().copied() else {
                state.orphan_packets += 1;
                return Record::Other { record_len };
            };
            Record::Packet {
                record_len,
                data_start: start_of(spb.data),
                data_len: spb.data.len().min(spb.origlen as usize),
                link_type: interface.link_type,
                timestamp_ns: 0,
                original_len: spb.origlen,
            }
        }
        _ => Record::Other { record_len },
    }
}

/// Decodes `if_tsresol`: bit 7 clear means 10^-n seconds, set means 2^-n.
///
/// pcap-parser 0.17 rejects every power-of-two resolution (it checks the
/// exponent before masking bit 7), so the value is decoded here.
fn units_per_second(tsresol: u8) -> Option<u64> {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(exponent).filter(|_| exponent < 64)
    } else {
        10u64.checked_pow(exponent)
    }
}

/// Reads `if_tsoffset` (option 14, seconds) in the section's byte order.
///
/// pcap-parser 0.17 reads it as little-endian whatever the section's byte order.
fn ts_offset(options: &[pcap_parser::pcapng::PcapNGOption<'_>], big_endian: bool) -> i64 {
    const IF_TSOFFSET: u16 = 14;
    let value = options
        .iter()
        .find(|option| option.code.0 == IF_TSOFFSET)
        .and_then(|option| option.as_bytes().ok())
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok());
    match value {
        Some(bytes) if big_endian => i64::from_be_bytes(bytes),
        Some(bytes) => i64::from_le_bytes(bytes),
        None => 0,
    }
}

fn ticks_to_ns(ticks: u64, interface: Interface) -> u64 {
    let units = interface.ts_units_per_second.max(1);
    let seconds = ticks / units;
    let fraction = ticks % units;
    let fraction_ns = (u128::from(fraction) * 1_000_000_000 / u128::from(units)) as u64;
    let seconds = seconds.saturating_add_signed(interface.ts_offset_seconds);
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(fraction_ns)
}

/// Drops the input bytes pcap-parser attaches to its errors: they must never reach a message.
fn owned_error(error: PcapError<&[u8]>) -> PcapError<Vec<u8>> {
    match error {
        PcapError::Eof => PcapError::Eof,
        PcapError::BufferTooSmall => PcapError::BufferTooSmall,
        PcapError::UnexpectedEof => PcapError::UnexpectedEof,
        PcapError::ReadError => PcapError::ReadError,
        PcapError::Incomplete(n) => PcapError::Incomplete(n),
        PcapError::HeaderNotRecognized => PcapError::HeaderNotRecognized,
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            PcapError::OwnedNomError(Vec::new(), kind)
        }
    }
}

/// Reads the total length of the pcapng section header block that `head` starts, in its byte order.
fn section_header_len(head: &[u8]) -> Option<u64> {
    if head.get(..4)? != [0x0a, 0x0d, 0x0d, 0x0a] {
        return None;
    }
    let length: [u8; 4] = head.get(4..8)?.try_into().ok()?;
    let length = match head.get(8..12)? {
        [0x4d, 0x3c, 0x2b, 0x1a] => u32::from_le_bytes(length),
        [0x1a, 0x2b, 0x3c, 0x4d] => u32::from_be_bytes(length),
        _ => return None,
    };
    Some(u64::from(length))
}

/// Reads the length field of the pcapng block that `data` starts, at least 1.
/// A section header block gives its own byte order.
fn read_block_len(data: &[u8], big_endian: bool) -> usize {
    let Some(field) = data
        .get(4..8)
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
    else {
        return 1;
    };
    let big_endian = match section_header_len(data) {
        Some(len) => return (len as usize).max(1),
        None => big_endian,
    };
    let len = if big_endian {
        u32::from_be_bytes(field)
    } else {
        u32::from_le_bytes(field)
    };
    (len as usize).max(1)
}

/// Block type of a pcapng section header block, the first bytes of a pcapng file.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Returns true for the magic number of a pcap file (either byte order,
/// microsecond or nanosecond) or of a pcapng section header.
fn is_capture_magic(magic: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    MAGICS.iter().any(|known| known[..] == *magic)
}

fn hex_prefix(data: &[u8]) -> String {
    data.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn take_io_error(slot: &Arc<Mutex<Option<io::Error>>>) -> io::Error {
    slot.lock()
        .ok()
        .and_then(|mut error| error.take())
        .unwrap_or_else(|| io::Error::other("unknown read error"))
}

/// Fills the requested buffer as far as the input allows and keeps the last
/// I/O error, which pcap-parser would otherwise drop.
///
/// pcap-parser reads once per refill; a pipe that returns a few bytes at a
/// time would otherwise make it misdetect the format or stall.
struct FillingReader<R> {
    inner: R,
    error: Arc<Mutex<Option<io::Error>>>,
    /// Bytes read so far, for the message when the first block is cut short.
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for FillingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    if filled > 0 {
                        break;
                    }
                    let copy = io::Error::new(error.kind(), error.to_string());
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(error);
                    }
                    return Err(copy);
                }
            }
        }
        self.read.fetch_add(filled as u64, Ordering::Relaxed);
        Ok(filled)
    }
}
