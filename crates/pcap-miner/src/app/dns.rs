//! Zero-copy parser for the question section of DNS messages, plus DNS over TCP framing.
//!
//! Only the header and the questions are read. Answer, authority and additional records
//! are never looked at, so damage there cannot hide a question.

#![forbid(unsafe_code)]

use std::fmt;
use std::iter::FusedIterator;

// Wire format, RFC 1035 sections 4.1.1, 4.1.2 and 4.1.4 (all integers big-endian):
//
//   Header, 12 bytes:
//     0  ID        16 bits
//     2  flags     QR(1) OPCODE(4) AA(1) TC(1) RD(1) RA(1) Z(3) RCODE(4)
//     4  QDCOUNT   number of questions
//     6  ANCOUNT, 8 NSCOUNT, 10 ARCOUNT  (the other sections, not read here)
//
//   Question, repeated QDCOUNT times right after the header:
//     QNAME   a name, see below
//     QTYPE   16 bits
//     QCLASS  16 bits
//
//   Name: a sequence of labels. The top two bits of a label's first byte give its type.
//     00  length byte 1..=63 followed by that many bytes. The length byte 0 is the root
//         label and ends the name.
//     11  compression pointer, a 14-bit offset from the start of the message where the
//         rest of the name continues. A pointer always ends the name at its position.
//     01  extended label type, deprecated by RFC 6891 section 5 and rejected here
//     10  reserved, rejected here
//
// A name is at most 255 bytes in wire form (RFC 1035 section 2.3.4). The count covers
// the length and data bytes of every label plus the root byte, once pointers are
// followed, but not the pointers themselves.

/// Length of the fixed DNS header in bytes.
const HEADER_LEN: usize = 12;

/// Length of QTYPE plus QCLASS, which follow each question name.
const QUESTION_FIELDS_LEN: usize = 4;

/// Maximum length of a name in wire form, as RFC 1035 section 2.3.4 sets it.
pub const MAX_NAME_WIRE_LEN: usize = 255;

/// Maximum number of compression pointers followed for one name.
///
/// The backward-only pointer rule already bounds the walk, so this cap only limits the
/// work per name. A name has at most 127 labels, so a name in which every pointer leads
/// to at least one label never needs more.
pub const MAX_POINTER_HOPS: usize = 127;

/// Top two bits of a label's first byte that mark a compression pointer.
const POINTER_TAG: u8 = 0xC0;

/// Errors found while parsing a DNS message header or question.
///
/// Every name error carries `offset`, the position of the name's first byte in the
/// message. Other offsets and lengths are also counted from the start of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The message is shorter than the 12-byte header.
    #[error("dns message is {present} bytes long, shorter than the 12-byte header")]
    HeaderTruncated { present: usize },

    /// A name's label or pointer ends after the last byte of the message.
    #[error(
        "dns name at offset {offset} runs past the end of the message \
         (needs {needed} bytes, has {present})"
    )]
    NameTruncated {
        offset: usize,
        needed: usize,
        present: usize,
    },

    /// The QTYPE and QCLASS fields after a question name end after the last byte.
    #[error(
        "dns question at offset {offset} runs past the end of the message \
         (needs {needed} bytes, has {present})"
    )]
    QuestionTruncated {
        offset: usize,
        needed: usize,
        present: usize,
    },

    /// A compression pointer targets an offset after its own position.
    #[error(
        "dns name at offset {offset} has a compression pointer at offset {pointer} \
         to offset {target}, which is after the pointer"
    )]
    ForwardPointer {
        offset: usize,
        pointer: usize,
        target: usize,
    },

    /// A compression pointer targets itself or labels already read since the last jump.
    #[error(
        "dns name at offset {offset} has a compression pointer at offset {pointer} \
         that loops back to offset {target}"
    )]
    PointerLoop {
        offset: usize,
        pointer: usize,
        target: usize,
    },

    /// A label starts with the extended (0x40) or reserved (0x80) label type bits.
    #[error(
        "dns name at offset {offset} has a label of unsupported type \
         (first byte {byte:#04x}) at offset {label_offset}"
    )]
    BadLabelType {
        offset: usize,
        label_offset: usize,
        byte: u8,
    },

    /// The decoded name exceeds 255 bytes in wire form.
    #[error("dns name at offset {offset} is longer than {MAX_NAME_WIRE_LEN} bytes in wire form")]
    NameTooLong { offset: usize },

    /// Following the name takes more than [`MAX_POINTER_HOPS`] compression pointers.
    #[error(
        "dns name at offset {offset} follows more than {MAX_POINTER_HOPS} compression pointers"
    )]
    TooManyPointers { offset: usize },
}

/// Reads a big-endian `u16` at `position`, or returns `None` past the end.
fn read_u16(bytes: &[u8], position: usize) -> Option<u16> {
    let pair = bytes.get(position..position.checked_add(2)?)?;
    <[u8; 2]>::try_from(pair).ok().map(u16::from_be_bytes)
}

/// Returns the offset that a pointer with the bytes `first` and `second` targets.
fn pointer_target(first: u8, second: u8) -> usize {
    usize::from(u16::from_be_bytes([first & !POINTER_TAG, second]))
}

/// Borrowed view of a DNS message whose 12-byte header is known to be present.
#[derive(Debug, Clone, Copy)]
pub struct DnsMessageSlice<'a> {
    message: &'a [u8],
    header: [u8; HEADER_LEN],
}

impl<'a> DnsMessageSlice<'a> {
    /// Checks that `message` contains a full header and wraps it without copying.
    ///
    /// The questions are validated later, one at a time, by [`Self::questions`].
    pub fn from_slice(message: &'a [u8]) -> Result<Self, DnsError> {
        let header = message
            .get(..HEADER_LEN)
            .and_then(|bytes| <[u8; HEADER_LEN]>::try_from(bytes).ok())
            .ok_or(DnsError::HeaderTruncated {
                present: message.len(),
            })?;
        Ok(Self { message, header })
    }

    /// Returns the message ID.
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.header[0], self.header[1]])
    }

    /// Returns `true` when the QR bit is clear, which marks a query, not a response.
    pub fn is_query(&self) -> bool {
        self.flags() & 0x8000 == 0
    }

    /// Returns the 4-bit OPCODE (0 is a standard query).
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0x0F) as u8
    }

    /// Returns QDCOUNT, the number of questions that the header announces.
    pub fn question_count(&self) -> u16 {
        u16::from_be_bytes([self.header[4], self.header[5]])
    }

    /// Returns an iterator that parses the questions one at a time.
    pub fn questions(&self) -> Questions<'a> {
        Questions {
            message: self.message,
            position: HEADER_LEN,
            remaining: self.question_count(),
        }
    }

    fn flags(&self) -> u16 {
        u16::from_be_bytes([self.header[2], self.header[3]])
    }
}

/// Iterator over the questions of a message, yielding at most QDCOUNT items.
///
/// An error whose question end is still known (a bad pointer target, a name that is too
/// long) is yielded and the next question follows. An error that leaves the end of the
/// question unknown (truncation, an unsupported label type before the first pointer)
/// is yielded once and then the iterator returns `None`.
#[derive(Debug, Clone)]
pub struct Questions<'a> {
    message: &'a [u8],
    position: usize,
    remaining: u16,
}

impl<'a> Iterator for Questions<'a> {
    type Item = Result<QuestionSlice<'a>, DnsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;

        let start = self.position;
        let in_place = match scan_in_place(self.message, start) {
            Ok(in_place) => in_place,
            Err(error) => {
                self.remaining = 0;
                return Some(Err(error));
            }
        };

        // The name ends inside the message, so these additions cannot overflow.
        let fields_end = in_place.end + QUESTION_FIELDS_LEN;
        let qtype = read_u16(self.message, in_place.end);
        let qclass = read_u16(self.message, in_place.end + 2);
        let (Some(qtype), Some(qclass)) = (qtype, qclass) else {
            self.remaining = 0;
            return Some(Err(DnsError::QuestionTruncated {
                offset: start,
                needed: fields_end,
                present: self.message.len(),
            }));
        };
        self.position = fields_end;

        let name = resolve_name(self.message, start, &in_place);
        Some(name.map(|name| QuestionSlice {
            name,
            qtype,
            qclass,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

impl FusedIterator for Questions<'_> {}

/// Part of a name stored at the name's own position, before any pointer is followed.
struct InPlaceName {
    /// Offset just past the root byte or the first pointer, where QTYPE starts.
    end: usize,
    /// Wire length of the labels read so far, without the root byte.
    wire_len: usize,
    /// Position and target of the pointer that ends the name, if one does.
    pointer: Option<(usize, usize)>,
}

/// Scans the labels at `start` up to the root byte or the first pointer.
///
/// Fails only when the end of the name cannot be found, so the caller must stop there.
/// The length cap is checked later, by [`resolve_name`], because the end is known even
/// for a name that is too long.
fn scan_in_place(message: &[u8], start: usize) -> Result<InPlaceName, DnsError> {
    let mut position = start;
    let mut wire_len = 0usize;
    loop {
        match read_label(message, start, position)? {
            Label::Root => {
                return Ok(InPlaceName {
                    end: position + 1,
                    wire_len,
                    pointer: None,
                });
            }
            Label::Data { end, .. } => {
                wire_len += end - position;
                position = end;
            }
            Label::Pointer { target } => {
                return Ok(InPlaceName {
                    end: position + 2,
                    wire_len,
                    pointer: Some((position, target)),
                });
            }
        }
    }
}

/// Checks the length cap and follows the pointers of a scanned name.
///
/// Every pointer must target an offset before the start of the run of labels that
/// contains it: the name's start, or the previous pointer's target. Targets therefore
/// strictly decrease, so no loop is possible. A target between that start and the
/// pointer is reported as [`DnsError::PointerLoop`] because reading from there would
/// reach the same pointer again. A target after the pointer is a
/// [`DnsError::ForwardPointer`]. Compressors only point to names they have already
/// written, so valid messages never contain either kind.
fn resolve_name<'a>(
    message: &'a [u8],
    start: usize,
    in_place: &InPlaceName,
) -> Result<NameSlice<'a>, DnsError> {
    let mut wire_len = in_place.wire_len;
    if wire_len + 1 > MAX_NAME_WIRE_LEN {
        return Err(DnsError::NameTooLong { offset: start });
    }
    let Some((mut pointer, mut target)) = in_place.pointer else {
        return Ok(NameSlice {
            message,
            start,
            wire_len: wire_len + 1,
        });
    };

    let mut run_start = start;
    let mut hops = 0usize;
    loop {
        hops += 1;
        if hops > MAX_POINTER_HOPS {
            return Err(DnsError::TooManyPointers { offset: start });
        }
        if target > pointer {
            return Err(DnsError::ForwardPointer {
                offset: start,
                pointer,
                target,
            });
        }
        if target >= run_start {
            return Err(DnsError::PointerLoop {
                offset: start,
                pointer,
                target,
            });
        }

        run_start = target;
        let mut position = target;
        loop {
            match read_label(message, start, position)? {
                Label::Root => {
                    return Ok(NameSlice {
                        message,
                        start,
                        wire_len: wire_len + 1,
                    });
                }
                Label::Data { end, .. } => {
                    wire_len += end - position;
                    if wire_len + 1 > MAX_NAME_WIRE_LEN {
                        return Err(DnsError::NameTooLong { offset: start });
                    }
                    position = end;
                }
                Label::Pointer { target: next } => {
                    pointer = position;
                    target = next;
                    break;
                }
            }
        }
    }
}

/// One label as found on the wire.
enum Label<'a> {
    Root,
    /// Label bytes, and the offset just past them.
    Data {
        bytes: &'a [u8],
        end: usize,
    },
    Pointer {
        target: usize,
    },
}

/// Reads the label at `position` of the name that starts at `name_start`.
fn read_label(message: &[u8], name_start: usize, position: usize) -> Result<Label<'_>, DnsError> {
    let truncated = |needed: usize| DnsError::NameTruncated {
        offset: name_start,
        needed,
        present: message.len(),
    };
    let Some(&first) = message.get(position) else {
        return Err(truncated(position.saturating_add(1)));
    };
    match first & POINTER_TAG {
        0x00 if first == 0 => Ok(Label::Root),
        0x00 => {
            let data_start = position + 1;
            let end = data_start + usize::from(first);
            let bytes = message.get(data_start..end).ok_or(truncated(end))?;
            Ok(Label::Data { bytes, end })
        }
        POINTER_TAG => {
            let Some(&second) = message.get(position + 1) else {
                return Err(truncated(position + 2));
            };
            Ok(Label::Pointer {
                target: pointer_target(first, second),
            })
        }
        _ => Err(DnsError::BadLabelType {
            offset: name_start,
            label_offset: position,
            byte: first,
        }),
    }
}

/// One parsed question: its name, QTYPE and QCLASS.
#[derive(Debug, Clone, Copy)]
pub struct QuestionSlice<'a> {
    name: NameSlice<'a>,
    qtype: u16,
    qclass: u16,
}

impl<'a> QuestionSlice<'a> {
    /// Returns the question name, already validated.
    pub fn name(&self) -> NameSlice<'a> {
        self.name
    }

    /// Returns QTYPE, which may be any value, including ones no RFC assigns.
    pub fn qtype(&self) -> u16 {
        self.qtype
    }

    /// Returns QCLASS, which may be any value.
    pub fn qclass(&self) -> u16 {
        self.qclass
    }
}

/// Validated name inside a message, read lazily through its compression pointers.
///
/// A `NameSlice` is only created after the whole name has been checked, so its methods
/// cannot fail or panic.
#[derive(Clone, Copy)]
pub struct NameSlice<'a> {
    message: &'a [u8],
    start: usize,
    /// Length in wire form, root byte included, so 1 for the root name.
    wire_len: usize,
}

impl<'a> NameSlice<'a> {
    /// Returns `true` for the root name, which has no labels.
    pub fn is_root(&self) -> bool {
        self.wire_len == 1
    }

    /// Appends the presentation form of the name to `out`.
    ///
    /// Labels are joined by `.` with no trailing dot and case kept. Inside a label, `.`
    /// becomes `\.`, `\` becomes `\\`, and bytes outside 0x21..=0x7E become `\DDD` in
    /// decimal. The root name appends nothing.
    pub fn write_presentation(&self, out: &mut String) {
        for (index, label) in self.labels().enumerate() {
            if index > 0 {
                out.push('.');
            }
            for &byte in label {
                push_escaped(out, byte);
            }
        }
    }

    /// Returns the presentation form described at [`Self::write_presentation`].
    pub fn to_presentation(&self) -> String {
        let mut out = String::with_capacity(self.wire_len);
        self.write_presentation(&mut out);
        out
    }

    /// Returns the raw bytes of each label in order, following compression pointers.
    ///
    /// The root label is not yielded, so the root name yields nothing.
    pub fn labels(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Labels {
            message: self.message,
            position: self.start,
            hops_left: MAX_POINTER_HOPS,
            done: false,
        }
    }
}

impl fmt::Debug for NameSlice<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NameSlice")
            .field("start", &self.start)
            .field("name", &self.to_presentation())
            .finish()
    }
}

/// Appends one label byte in presentation form.
fn push_escaped(out: &mut String, byte: u8) {
    match byte {
        b'.' | b'\\' => {
            out.push('\\');
            out.push(char::from(byte));
        }
        0x21..=0x7E => out.push(char::from(byte)),
        _ => {
            out.push('\\');
            out.push(char::from(b'0' + byte / 100));
            out.push(char::from(b'0' + byte / 10 % 10));
            out.push(char::from(b'0' + byte % 10));
        }
    }
}

/// Iterator behind [`NameSlice::labels`].
///
/// The name was validated, so the checks here only keep a broken invariant from
/// panicking or looping: any surprise ends the iteration.
struct Labels<'a> {
    message: &'a [u8],
    position: usize,
    hops_left: usize,
    done: bool,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.done {
            match read_label(self.message, 0, self.position) {
                Ok(Label::Data { bytes, end }) => {
                    self.position = end;
                    return Some(bytes);
                }
                Ok(Label::Pointer { target }) if self.hops_left > 0 => {
                    self.hops_left -= 1;
                    self.position = target;
                }
                _ => self.done = true,
            }
        }
        None
    }
}

impl FusedIterator for Labels<'_> {}

/// Splits a TCP byte stream into length-prefixed DNS messages (RFC 1035 section 4.2.2).
///
/// Each message is preceded by its length as a big-endian `u16`. At most one partial
/// message is buffered, so the buffered bytes never exceed 65,537.
#[derive(Debug, Default)]
pub struct TcpFramer {
    /// Bytes of a message split across calls, length prefix included.
    partial: Vec<u8>,
}

impl TcpFramer {
    /// Creates a framer with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds stream bytes and calls `on_message` for each complete message.
    ///
    /// Messages entirely inside `data` are passed without copying, and only a message
    /// split across calls is buffered. A zero-length message is passed as an empty slice.
    pub fn push(&mut self, data: &[u8], on_message: &mut dyn FnMut(&[u8])) {
        let mut rest = data;

        if !self.partial.is_empty() {
            rest = self.fill_partial(rest);
            if framed_len(&self.partial) != Some(self.partial.len()) {
                // Still incomplete, which means fill_partial consumed all of `data`.
                return;
            }
            on_message(self.partial.get(2..).unwrap_or_default());
            self.partial.clear();
        }

        while let Some(total) = framed_len(rest) {
            let (Some(message), Some(after)) = (rest.get(2..total), rest.get(total..)) else {
                break;
            };
            on_message(message);
            rest = after;
        }
        self.partial.extend_from_slice(rest);
    }

    /// Drops any partial message, for use after a gap in the stream.
    pub fn reset(&mut self) {
        self.partial.clear();
    }

    /// Moves bytes from `data` into the partial message until its length prefix and body
    /// are complete, and returns the bytes left over.
    fn fill_partial<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let prefix_missing = 2usize.saturating_sub(self.partial.len());
        let rest = self.move_to_partial(data, prefix_missing);
        let body_missing =
            framed_len(&self.partial).map_or(0, |total| total.saturating_sub(self.partial.len()));
        self.move_to_partial(rest, body_missing)
    }

    /// Appends up to `count` bytes of `data` to the partial message and returns the rest.
    fn move_to_partial<'d>(&mut self, data: &'d [u8], count: usize) -> &'d [u8] {
        let (moved, rest) = data.split_at(count.min(data.len()));
        self.partial.extend_from_slice(moved);
        rest
    }
}

/// Returns the length prefix plus message length announced at the start of `bytes`.
fn framed_len(bytes: &[u8]) -> Option<usize> {
    read_u16(bytes, 0).map(|len| 2 + usize::from(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE_A: u16 = 1;
    const TYPE_TXT: u16 = 16;
    const TYPE_AAAA: u16 = 28;
    const TYPE_SVCB: u16 = 64;
    const TYPE_HTTPS: u16 = 65;
    const CLASS_IN: u16 = 1;

    /// Builds DNS messages byte by byte and keeps the header counts in step.
    struct MessageBuilder {
        bytes: Vec<u8>,
    }

    impl MessageBuilder {
        /// Starts a standard query with ID 0x1234, RD set and all counts zero.
        fn query() -> Self {
            Self::with_header(0x1234, 0x0100)
        }

        fn with_header(id: u16, flags: u16) -> Self {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(&flags.to_be_bytes());
            bytes.extend_from_slice(&[0; 8]);
            Self { bytes }
        }

        /// Appends a question and returns the offset of its name.
        fn question(&mut self, name: &[u8], qtype: u16, qclass: u16) -> usize {
            let offset = self.bytes.len();
            self.bytes.extend_from_slice(name);
            self.bytes.extend_from_slice(&qtype.to_be_bytes());
            self.bytes.extend_from_slice(&qclass.to_be_bytes());
            self.add_to_count(4, 1);
            offset
        }

        /// Appends bytes without touching the counts.
        fn raw(&mut self, bytes: &[u8]) {
            self.bytes.extend_from_slice(bytes);
        }

        fn set_count(&mut self, position: usize, count: u16) {
            self.bytes[position..position + 2].copy_from_slice(&count.to_be_bytes());
        }

        fn add_to_count(&mut self, position: usize, added: u16) {
            let count = read_u16(&self.bytes, position).unwrap() + added;
            self.set_count(position, count);
        }

        fn next_offset(&self) -> usize {
            self.bytes.len()
        }

        fn build(&self) -> Vec<u8> {
            self.bytes.clone()
        }
    }

    /// Encodes labels followed by the root byte.
    fn encode_name(labels: &[&[u8]]) -> Vec<u8> {
        let mut bytes = encode_labels(labels);
        bytes.push(0);
        bytes
    }

    /// Encodes labels followed by a compression pointer to `target`.
    fn encode_name_with_pointer(labels: &[&[u8]], target: usize) -> Vec<u8> {
        let mut bytes = encode_labels(labels);
        bytes.extend_from_slice(&pointer(target));
        bytes
    }

    fn encode_labels(labels: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for label in labels {
            bytes.push(u8::try_from(label.len()).unwrap());
            bytes.extend_from_slice(label);
        }
        bytes
    }

    fn pointer(target: usize) -> [u8; 2] {
        (0xC000 | u16::try_from(target).unwrap()).to_be_bytes()
    }

    /// Parses every question of `message` into its presentation form or error.
    fn question_names(message: &[u8]) -> Vec<Result<String, DnsError>> {
        let parsed = DnsMessageSlice::from_slice(message).expect("header is complete");
        parsed
            .questions()
            .map(|question| question.map(|question| question.name().to_presentation()))
            .collect()
    }

    fn name_truncated(offset: usize, needed: usize, present: usize) -> DnsError {
        DnsError::NameTruncated {
            offset,
            needed,
            present,
        }
    }

    fn question_truncated(offset: usize, needed: usize, present: usize) -> DnsError {
        DnsError::QuestionTruncated {
            offset,
            needed,
            present,
        }
    }

    fn ok(name: &str) -> Result<String, DnsError> {
        Ok(name.to_string())
    }

    #[test]
    fn header_fields_are_read() {
        // QR=0, opcode 5 (UPDATE), AA, TC, RD, RA, all three Z bits, RCODE 3.
        let flags = (5 << 11) | 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0070 | 0x0003;
        let mut builder = MessageBuilder::with_header(0xBEEF, flags);
        builder.question(&encode_name(&[b"example", b"com"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        assert_eq!(parsed.id(), 0xBEEF);
        assert!(parsed.is_query());
        assert_eq!(parsed.opcode(), 5);
        assert_eq!(parsed.question_count(), 1);
        assert_eq!(question_names(&message), vec![ok("example.com")]);
    }

    #[test]
    fn header_shorter_than_12_bytes_rejected() {
        let message = MessageBuilder::query().build();
        for len in 0..HEADER_LEN {
            let result = DnsMessageSlice::from_slice(&message[..len]);
            assert_eq!(
                result.err(),
                Some(DnsError::HeaderTruncated { present: len }),
                "length {len}"
            );
        }
        assert!(DnsMessageSlice::from_slice(&message).is_ok());
    }

    #[test]
    fn response_is_not_query() {
        let mut builder = MessageBuilder::with_header(7, 0x8180);
        builder.question(&encode_name(&[b"example", b"org"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        assert!(!parsed.is_query());
        assert_eq!(parsed.opcode(), 0);
        assert_eq!(question_names(&message), vec![ok("example.org")]);
    }

    #[test]
    fn any_qtype_and_qclass_accepted() {
        let cases = [
            (TYPE_A, CLASS_IN),
            (TYPE_AAAA, CLASS_IN),
            (TYPE_TXT, CLASS_IN),
            (TYPE_SVCB, CLASS_IN),
            (TYPE_HTTPS, CLASS_IN),
            (0xFF00, CLASS_IN),
            (TYPE_A, 3),
            (0xABCD, 0xFFFF),
        ];
        let mut builder = MessageBuilder::query();
        for (index, (qtype, qclass)) in cases.iter().enumerate() {
            let label = format!("host{index}");
            builder.question(&encode_name(&[label.as_bytes(), b"test"]), *qtype, *qclass);
        }
        let message = builder.build();

        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        let questions: Vec<_> = parsed.questions().collect::<Result<_, _>>().unwrap();
        assert_eq!(questions.len(), cases.len());
        for (index, (question, (qtype, qclass))) in questions.iter().zip(cases).enumerate() {
            assert_eq!(question.qtype(), qtype);
            assert_eq!(question.qclass(), qclass);
            assert_eq!(
                question.name().to_presentation(),
                format!("host{index}.test")
            );
        }
    }

    #[test]
    fn qdcount_zero_yields_nothing() {
        let mut builder = MessageBuilder::query();
        builder.raw(&encode_name(&[b"ignored"]));
        let message = builder.build();

        assert_eq!(question_names(&message), vec![]);
    }

    #[test]
    fn qdcount_above_questions_present_ends_in_error() {
        let mut builder = MessageBuilder::query();
        builder.question(&encode_name(&[b"one"]), TYPE_A, CLASS_IN);
        builder.set_count(4, 3);
        let message = builder.build();

        let end = message.len();
        assert_eq!(
            question_names(&message),
            vec![ok("one"), Err(name_truncated(end, end + 1, end))]
        );
    }

    #[test]
    fn pointer_to_earlier_name_followed() {
        let mut builder = MessageBuilder::query();
        let first = builder.question(
            &encode_name(&[b"www", b"example", b"com"]),
            TYPE_A,
            CLASS_IN,
        );
        let example = first + 4;
        let second = builder.question(
            &encode_name_with_pointer(&[b"mail"], example),
            TYPE_AAAA,
            CLASS_IN,
        );
        builder.question(&encode_name_with_pointer(&[], second), TYPE_TXT, CLASS_IN);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                ok("www.example.com"),
                ok("mail.example.com"),
                ok("mail.example.com")
            ]
        );
        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        let third = parsed.questions().nth(2).unwrap().unwrap();
        let labels: Vec<&[u8]> = third.name().labels().collect();
        assert_eq!(labels, vec![&b"mail"[..], b"example", b"com"]);
        assert_eq!(third.qtype(), TYPE_TXT);
    }

    #[test]
    fn self_pointer_is_loop() {
        let mut builder = MessageBuilder::query();
        let start = builder.next_offset();
        builder.question(&pointer(start), TYPE_A, CLASS_IN);
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                Err(DnsError::PointerLoop {
                    offset: start,
                    pointer: start,
                    target: start
                }),
                ok("next")
            ]
        );
    }

    #[test]
    fn pointer_into_own_labels_is_loop() {
        // "a" then a pointer back to the name's start: the pointer targets an earlier
        // offset, but following it reads "a" and reaches the same pointer again.
        let mut builder = MessageBuilder::query();
        let start = builder.next_offset();
        builder.question(&encode_name_with_pointer(&[b"a"], start), TYPE_A, CLASS_IN);
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                Err(DnsError::PointerLoop {
                    offset: start,
                    pointer: start + 2,
                    target: start
                }),
                ok("next")
            ]
        );
    }

    #[test]
    fn two_step_pointer_loop_rejected() {
        // The first name points to the second and the second back to the first.
        let mut builder = MessageBuilder::query();
        let first = builder.next_offset();
        let second = first + 2 + 4;
        builder.question(&pointer(second), TYPE_A, CLASS_IN);
        builder.question(&pointer(first), TYPE_A, CLASS_IN);
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                Err(DnsError::ForwardPointer {
                    offset: first,
                    pointer: first,
                    target: second
                }),
                Err(DnsError::ForwardPointer {
                    offset: second,
                    pointer: first,
                    target: second
                }),
                ok("next")
            ]
        );
    }

    #[test]
    fn forward_pointer_rejected() {
        let mut builder = MessageBuilder::query();
        let first = builder.question(&encode_name_with_pointer(&[b"www"], 40), TYPE_A, CLASS_IN);
        let second = builder.question(&pointer(0x3FFF), TYPE_A, CLASS_IN);
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        // Put a valid name at offset 40 to show that forward targets are rejected even
        // when they would parse.
        let padding = 40 - builder.next_offset();
        builder.raw(&vec![0; padding]);
        builder.raw(&encode_name(&[b"example"]));
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                Err(DnsError::ForwardPointer {
                    offset: first,
                    pointer: first + 4,
                    target: 40
                }),
                Err(DnsError::ForwardPointer {
                    offset: second,
                    pointer: second,
                    target: 0x3FFF
                }),
                ok("next")
            ]
        );
    }

    #[test]
    fn label_past_end_stops_iteration() {
        let mut builder = MessageBuilder::query();
        builder.question(&encode_name(&[b"ok"]), TYPE_A, CLASS_IN);
        let broken = builder.next_offset();
        builder.raw(&[50, b'x', b'y']);
        builder.set_count(4, 3);
        let message = builder.build();

        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        let mut questions = parsed.questions();
        assert_eq!(
            questions.next().unwrap().unwrap().name().to_presentation(),
            "ok"
        );
        assert_eq!(
            questions.next().unwrap().err(),
            Some(name_truncated(broken, broken + 51, message.len()))
        );
        assert!(questions.next().is_none());
        assert!(questions.next().is_none());
    }

    #[test]
    fn extended_label_type_in_place_stops_iteration() {
        let mut builder = MessageBuilder::query();
        let start = builder.next_offset();
        builder.raw(&[3, b'w', b'w', b'w', 0x41, 0x00]);
        builder.raw(&[0, 1, 0, 1]);
        builder.question(&encode_name(&[b"never"]), TYPE_A, CLASS_IN);
        builder.set_count(4, 2);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![Err(DnsError::BadLabelType {
                offset: start,
                label_offset: start + 4,
                byte: 0x41
            })]
        );
    }

    #[test]
    fn bad_label_type_behind_pointer_skipped() {
        // The first name is one label whose bytes 0x80 and 0x41 look like label types
        // when a pointer targets them. Such a question's end is still known.
        let mut builder = MessageBuilder::query();
        let first = builder.question(&encode_name(&[b"\x80\x41"]), TYPE_A, CLASS_IN);
        let reserved = first + 1;
        let extended = first + 2;
        let second = builder.question(
            &encode_name_with_pointer(&[b"x"], reserved),
            TYPE_A,
            CLASS_IN,
        );
        let third = builder.question(&pointer(extended), TYPE_A, CLASS_IN);
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                ok("\\128A"),
                Err(DnsError::BadLabelType {
                    offset: second,
                    label_offset: reserved,
                    byte: 0x80
                }),
                Err(DnsError::BadLabelType {
                    offset: third,
                    label_offset: extended,
                    byte: 0x41
                }),
                ok("next")
            ]
        );
    }

    #[test]
    fn label_bytes_escaped() {
        let mut builder = MessageBuilder::query();
        builder.question(
            &encode_name(&[b"a.b", b"Example", b"COM"]),
            TYPE_A,
            CLASS_IN,
        );
        builder.question(&encode_name(&[b"back\\slash"]), TYPE_A, CLASS_IN);
        builder.question(
            &encode_name(&[b"has space", b"\xff\x00\x7f"]),
            TYPE_A,
            CLASS_IN,
        );
        builder.question(&encode_name(&[b"!~\"$()@;"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        assert_eq!(
            question_names(&message),
            vec![
                ok("a\\.b.Example.COM"),
                ok("back\\\\slash"),
                ok("has\\032space.\\255\\000\\127"),
                ok("!~\"$()@;"),
            ]
        );
    }

    #[test]
    fn write_presentation_appends() {
        let mut builder = MessageBuilder::query();
        builder.question(&encode_name(&[b"a", b"b"]), TYPE_A, CLASS_IN);
        let message = builder.build();
        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        let question = parsed.questions().next().unwrap().unwrap();

        let mut out = String::from("name=");
        question.name().write_presentation(&mut out);
        assert_eq!(out, "name=a.b");
    }

    #[test]
    fn root_name_has_no_labels() {
        // ID 0x00FF puts a root byte at offset 0, so the second name, a pointer to 0,
        // is also the root name.
        let mut builder = MessageBuilder::with_header(0x00FF, 0);
        builder.question(&[0], TYPE_A, CLASS_IN);
        builder.question(&pointer(0), TYPE_A, CLASS_IN);
        builder.question(&encode_name(&[b"com"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        let parsed = DnsMessageSlice::from_slice(&message).unwrap();
        let names: Vec<NameSlice<'_>> = parsed.questions().map(|q| q.unwrap().name()).collect();
        assert!(names[0].is_root());
        assert!(names[1].is_root());
        assert!(!names[2].is_root());
        assert_eq!(names[0].to_presentation(), "");
        assert_eq!(names[1].to_presentation(), "");
        assert_eq!(names[0].labels().count(), 0);
        assert_eq!(names[1].labels().count(), 0);
    }

    #[test]
    fn name_length_capped_at_255() {
        let label_63 = [b'a'; 63];
        let label_61 = [b'b'; 61];
        let label_62 = [b'c'; 62];
        // 3 * 64 + 62 + 1 = 255 bytes in wire form.
        let longest = encode_name(&[&label_63, &label_63, &label_63, &label_61]);
        // 3 * 64 + 63 + 1 = 256 bytes.
        let too_long = encode_name(&[&label_63, &label_63, &label_63, &label_62]);
        assert_eq!(longest.len(), 255);
        assert_eq!(too_long.len(), 256);

        let mut builder = MessageBuilder::query();
        let first = builder.question(&longest, TYPE_A, CLASS_IN);
        let second = builder.question(&too_long, TYPE_A, CLASS_IN);
        // The last three labels of the first name take 64 + 64 + 62 + 1 = 191 bytes, so
        // one more 63-byte label makes 255 bytes and an extra "z" label makes 257.
        let suffix = first + 64;
        builder.question(
            &encode_name_with_pointer(&[&label_63], suffix),
            TYPE_A,
            CLASS_IN,
        );
        let fourth = builder.question(
            &encode_name_with_pointer(&[&label_63, b"z"], suffix),
            TYPE_A,
            CLASS_IN,
        );
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        let names = question_names(&message);
        assert_eq!(names.len(), 5);
        // 63 * 3 + 61 label bytes and 3 dots.
        assert_eq!(names[0].as_ref().map(String::len), Ok(253));
        assert_eq!(names[1], Err(DnsError::NameTooLong { offset: second }));
        assert_eq!(names[2].as_ref().map(String::len), Ok(253));
        assert_eq!(names[3], Err(DnsError::NameTooLong { offset: fourth }));
        assert_eq!(names[4], ok("next"));
    }

    #[test]
    fn pointer_chain_capped() {
        // Question k is a pointer to question k - 1, and question 0 points to the root
        // byte at offset 0, so question k follows k + 1 pointers.
        let mut builder = MessageBuilder::with_header(0x00FF, 0);
        let mut previous = 0;
        for _ in 0..=MAX_POINTER_HOPS {
            previous = builder.question(&pointer(previous), TYPE_A, CLASS_IN);
        }
        builder.question(&encode_name(&[b"next"]), TYPE_A, CLASS_IN);
        let message = builder.build();

        let names = question_names(&message);
        assert_eq!(names.len(), MAX_POINTER_HOPS + 2);
        for name in &names[..MAX_POINTER_HOPS] {
            assert_eq!(name, &ok(""));
        }
        assert_eq!(
            names[MAX_POINTER_HOPS],
            Err(DnsError::TooManyPointers { offset: previous })
        );
        assert_eq!(names[MAX_POINTER_HOPS + 1], ok("next"));
    }

    #[test]
    fn later_sections_never_read() {
        let mut builder = MessageBuilder::query();
        builder.question(&encode_name(&[b"example", b"net"]), TYPE_HTTPS, CLASS_IN);
        builder.set_count(6, 5);
        builder.set_count(8, 0xFFFF);
        builder.set_count(10, 1);
        // A forward pointer, a bad label type and a label that runs past the end.
        builder.raw(&[0xC0, 0xFF, 0x40, 0x80, 0x3F, 0x01]);
        let message = builder.build();

        assert_eq!(question_names(&message), vec![ok("example.net")]);
    }

    #[test]
    fn edns_opt_record_ignored() {
        let mut builder = MessageBuilder::query();
        builder.question(&encode_name(&[b"example", b"net"]), TYPE_A, CLASS_IN);
        builder.set_count(10, 1);
        // OPT: root name, TYPE 41, UDP size 1232, extended RCODE and flags, RDLENGTH 0.
        builder.raw(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        let message = builder.build();

        assert_eq!(question_names(&message), vec![ok("example.net")]);
    }

    #[test]
    fn every_truncation_has_exact_outcome() {
        // Layout: header 0..12, "www.example.com" at 12..29, QTYPE and QCLASS 29..33,
        // "mail" at 33..38, pointer to "example.com" at 38..40, QTYPE and QCLASS 40..44.
        let mut builder = MessageBuilder::query();
        let first = builder.question(
            &encode_name(&[b"www", b"example", b"com"]),
            TYPE_A,
            CLASS_IN,
        );
        let second = builder.question(
            &encode_name_with_pointer(&[b"mail"], first + 4),
            TYPE_AAAA,
            CLASS_IN,
        );
        let message = builder.build();
        assert_eq!((first, second, message.len()), (12, 33, 44));

        for len in 0..=message.len() {
            let cut = &message[..len];
            let parsed = DnsMessageSlice::from_slice(cut);
            if len < HEADER_LEN {
                assert_eq!(
                    parsed.err(),
                    Some(DnsError::HeaderTruncated { present: len })
                );
                continue;
            }
            let parsed = parsed.unwrap();
            assert_eq!(parsed.question_count(), 2);

            let first_only = |error: DnsError| vec![Err(error)];
            let second_fails = |error: DnsError| vec![ok("www.example.com"), Err(error)];
            let expected = match len {
                12 => first_only(name_truncated(12, 13, len)),
                13..=15 => first_only(name_truncated(12, 16, len)),
                16 => first_only(name_truncated(12, 17, len)),
                17..=23 => first_only(name_truncated(12, 24, len)),
                24 => first_only(name_truncated(12, 25, len)),
                25..=27 => first_only(name_truncated(12, 28, len)),
                28 => first_only(name_truncated(12, 29, len)),
                29..=32 => first_only(question_truncated(12, 33, len)),
                33 => second_fails(name_truncated(33, 34, len)),
                34..=37 => second_fails(name_truncated(33, 38, len)),
                38 => second_fails(name_truncated(33, 39, len)),
                39 => second_fails(name_truncated(33, 40, len)),
                40..=43 => second_fails(question_truncated(33, 44, len)),
                _ => vec![ok("www.example.com"), ok("mail.example.com")],
            };
            assert_eq!(question_names(cut), expected, "cut at {len}");

            let mut questions = parsed.questions();
            for _ in &expected {
                assert!(questions.next().is_some(), "cut at {len}");
            }
            assert!(questions.next().is_none(), "cut at {len}");
        }
    }

    #[test]
    fn error_messages_name_offsets() {
        let cases = [
            (
                DnsError::HeaderTruncated { present: 5 },
                "dns message is 5 bytes long, shorter than the 12-byte header",
            ),
            (
                name_truncated(12, 20, 15),
                "dns name at offset 12 runs past the end of the message (needs 20 bytes, has 15)",
            ),
            (
                question_truncated(12, 33, 30),
                "dns question at offset 12 runs past the end of the message \
                 (needs 33 bytes, has 30)",
            ),
            (
                DnsError::ForwardPointer {
                    offset: 12,
                    pointer: 14,
                    target: 40,
                },
                "dns name at offset 12 has a compression pointer at offset 14 to offset 40, \
                 which is after the pointer",
            ),
            (
                DnsError::PointerLoop {
                    offset: 12,
                    pointer: 14,
                    target: 12,
                },
                "dns name at offset 12 has a compression pointer at offset 14 \
                 that loops back to offset 12",
            ),
            (
                DnsError::BadLabelType {
                    offset: 12,
                    label_offset: 16,
                    byte: 0x41,
                },
                "dns name at offset 12 has a label of unsupported type (first byte 0x41) \
                 at offset 16",
            ),
            (
                DnsError::NameTooLong { offset: 12 },
                "dns name at offset 12 is longer than 255 bytes in wire form",
            ),
            (
                DnsError::TooManyPointers { offset: 12 },
                "dns name at offset 12 follows more than 127 compression pointers",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    /// Prefixes each message with its length, as DNS over TCP does.
    fn tcp_stream(messages: &[Vec<u8>]) -> Vec<u8> {
        let mut stream = Vec::new();
        for message in messages {
            stream.extend_from_slice(&u16::try_from(message.len()).unwrap().to_be_bytes());
            stream.extend_from_slice(message);
        }
        stream
    }

    /// Pushes `chunks` in order and returns every message the framer emitted.
    fn frame_chunks(framer: &mut TcpFramer, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut received = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut |message| received.push(message.to_vec()));
        }
        received
    }

    fn sample_tcp_messages() -> Vec<Vec<u8>> {
        let mut builder = MessageBuilder::query();
        builder.question(&encode_name(&[b"example", b"com"]), TYPE_A, CLASS_IN);
        // 300 bytes, so the high byte of the length prefix is not zero.
        let long: Vec<u8> = (0..300u16).map(|i| (i % 251) as u8).collect();
        vec![builder.build(), Vec::new(), long, vec![0xAB]]
    }

    #[test]
    fn tcp_framer_single_push() {
        let messages = sample_tcp_messages();
        let stream = tcp_stream(&messages);

        let mut framer = TcpFramer::new();
        assert_eq!(frame_chunks(&mut framer, &[&stream]), messages);
        assert!(framer.partial.is_empty());
    }

    #[test]
    fn tcp_framer_passes_whole_messages_without_copy() {
        let messages = sample_tcp_messages();
        let stream = tcp_stream(&messages);
        let range = stream.as_ptr_range();

        let mut framer = TcpFramer::new();
        let mut count = 0;
        framer.push(&stream, &mut |message| {
            assert!(range.contains(&message.as_ptr()) || message.is_empty());
            count += 1;
        });
        assert_eq!(count, messages.len());
    }

    #[test]
    fn tcp_framer_split_at_every_boundary() {
        let messages = sample_tcp_messages();
        let stream = tcp_stream(&messages);

        for first_cut in 0..=stream.len() {
            let (head, tail) = stream.split_at(first_cut);
            let mut framer = TcpFramer::new();
            assert_eq!(
                frame_chunks(&mut framer, &[head, tail]),
                messages,
                "cut at {first_cut}"
            );

            for second_cut in first_cut..=stream.len() {
                let (middle, end) = tail.split_at(second_cut - first_cut);
                let mut framer = TcpFramer::new();
                assert_eq!(
                    frame_chunks(&mut framer, &[head, middle, end]),
                    messages,
                    "cuts at {first_cut} and {second_cut}"
                );
            }
        }
    }

    #[test]
    fn tcp_framer_byte_by_byte() {
        let messages = sample_tcp_messages();
        let stream = tcp_stream(&messages);
        let chunks: Vec<&[u8]> = stream.chunks(1).collect();

        let mut framer = TcpFramer::new();
        assert_eq!(frame_chunks(&mut framer, &chunks), messages);
        assert!(framer.partial.is_empty());
    }

    #[test]
    fn tcp_framer_largest_message() {
        let message: Vec<u8> = (0..65_535u32).map(|i| (i % 256) as u8).collect();
        let stream = tcp_stream(std::slice::from_ref(&message));
        let (head, tail) = stream.split_at(40_000);

        let mut framer = TcpFramer::new();
        assert_eq!(frame_chunks(&mut framer, &[head, tail]), vec![message]);
        assert!(framer.partial.capacity() <= 2 * (65_535 + 2));
    }

    #[test]
    fn tcp_framer_reset_drops_partial() {
        let messages = sample_tcp_messages();
        let first = tcp_stream(&messages[..1]);
        let rest = tcp_stream(&messages[1..]);

        for cut in 1..first.len() {
            let mut framer = TcpFramer::new();
            assert_eq!(
                frame_chunks(&mut framer, &[&first[..cut]]),
                Vec::<Vec<u8>>::new()
            );
            framer.reset();
            assert_eq!(
                frame_chunks(&mut framer, &[&rest]),
                messages[1..].to_vec(),
                "cut at {cut}"
            );
        }
    }

    /// Generates bytes with the xorshift64 algorithm, so the tests need no extra crate.
    struct XorShift(u64);

    impl XorShift {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next_u64() % bound
        }
    }

    /// Generates a message built from random labels, roots, pointers and junk bytes.
    fn random_message(rng: &mut XorShift) -> Vec<u8> {
        let len = rng.below(128) as usize;
        let mut message: Vec<u8> = (0..HEADER_LEN.min(len))
            .map(|_| rng.below(256) as u8)
            .collect();
        let mut label_starts = Vec::new();
        while message.len() < len {
            let position = message.len();
            match rng.below(12) {
                0..=4 => {
                    let label_len = if rng.below(20) == 0 {
                        1 + rng.below(63)
                    } else {
                        1 + rng.below(5)
                    };
                    label_starts.push(position);
                    message.push(label_len as u8);
                    for _ in 0..label_len {
                        let byte = match rng.below(8) {
                            0 => [b'.', b'\\', b' ', 0xFF][rng.below(4) as usize],
                            1 => rng.below(256) as u8,
                            _ => b'a' + rng.below(26) as u8,
                        };
                        message.push(byte);
                    }
                }
                5 | 6 => {
                    // A root byte followed by QTYPE and QCLASS.
                    message.push(0);
                    for _ in 0..4 {
                        message.push(rng.below(256) as u8);
                    }
                }
                7 | 8 => {
                    // Mostly earlier labels, which are the targets worth following.
                    let target = if !label_starts.is_empty() && rng.below(4) != 0 {
                        label_starts[rng.below(label_starts.len() as u64) as usize] as u64
                    } else {
                        rng.below(position as u64 + 8)
                    };
                    message.extend_from_slice(&(0xC000 | target as u16).to_be_bytes());
                    for _ in 0..4 {
                        message.push(rng.below(256) as u8);
                    }
                }
                9 => message.push(0x40 | rng.below(0x80) as u8),
                _ => message.push(rng.below(256) as u8),
            }
        }
        message.truncate(len);
        if message.len() >= HEADER_LEN {
            // Mostly 1..=4 questions, sometimes a wild count.
            let count = if rng.below(8) == 0 {
                rng.below(65_536) as u16
            } else {
                1 + rng.below(4) as u16
            };
            message[4..6].copy_from_slice(&count.to_be_bytes());
        }
        message
    }

    /// Reverses the presentation escapes into labels.
    fn parse_presentation(text: &str) -> Vec<Vec<u8>> {
        if text.is_empty() {
            return Vec::new();
        }
        let bytes = text.as_bytes();
        let mut labels = vec![Vec::new()];
        let mut index = 0;
        while index < bytes.len() {
            match bytes[index] {
                b'\\' if bytes[index + 1].is_ascii_digit() => {
                    let digits = std::str::from_utf8(&bytes[index + 1..index + 4]).unwrap();
                    labels.last_mut().unwrap().push(digits.parse().unwrap());
                    index += 4;
                }
                b'\\' => {
                    labels.last_mut().unwrap().push(bytes[index + 1]);
                    index += 2;
                }
                b'.' => {
                    labels.push(Vec::new());
                    index += 1;
                }
                byte => {
                    assert!((0x21..=0x7E).contains(&byte), "unescaped byte {byte:#04x}");
                    labels.last_mut().unwrap().push(byte);
                    index += 1;
                }
            }
        }
        labels
    }

    #[test]
    fn random_messages_never_panic_and_round_trip() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut names_with_labels = 0;
        let mut names_behind_pointers = 0;
        let mut errors = 0;
        for _ in 0..10_000 {
            let message = random_message(&mut rng);
            let Ok(parsed) = DnsMessageSlice::from_slice(&message) else {
                assert!(message.len() < HEADER_LEN);
                continue;
            };

            let mut questions = parsed.questions();
            let mut yielded = 0usize;
            for question in questions.by_ref() {
                yielded += 1;
                let Ok(question) = question else {
                    errors += 1;
                    continue;
                };
                let name = question.name();
                let labels: Vec<&[u8]> = name.labels().collect();
                let wire_len: usize = labels.iter().map(|label| label.len() + 1).sum::<usize>() + 1;
                assert!(wire_len <= MAX_NAME_WIRE_LEN);
                assert!(labels.iter().all(|label| (1..=63).contains(&label.len())));
                assert_eq!(name.is_root(), labels.is_empty());

                let text = name.to_presentation();
                let mut appended = String::from("x");
                name.write_presentation(&mut appended);
                assert_eq!(appended, format!("x{text}"));
                let round_trip = parse_presentation(&text);
                assert_eq!(round_trip, labels, "message {message:02x?}");
                if !labels.is_empty() {
                    names_with_labels += 1;
                    let in_place = scan_in_place(&message, name.start).unwrap();
                    if in_place.pointer.is_some() {
                        names_behind_pointers += 1;
                    }
                }
            }
            assert!(yielded <= usize::from(parsed.question_count()));
            assert!(questions.next().is_none());
        }
        // Make sure the generator reaches both paths often enough to test something.
        assert!(names_with_labels > 1_000, "only {names_with_labels} names");
        assert!(errors > 1_000, "only {errors} errors");
        assert!(
            names_behind_pointers > 150,
            "only {names_behind_pointers} names with pointers"
        );
    }
}
