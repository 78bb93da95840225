//! TLS records and handshake messages read incrementally from one direction
//! of a stream.

use std::collections::VecDeque;

/// Record content types (RFC 8446 section 5.1, RFC 6520 for heartbeat).
pub(crate) mod content_type {
    pub(crate) const CHANGE_CIPHER_SPEC: u8 = 20;
    pub(crate) const ALERT: u8 = 21;
    pub(crate) const HANDSHAKE: u8 = 22;
    pub(crate) const APPLICATION_DATA: u8 = 23;
    pub(crate) const HEARTBEAT: u8 = 24;
}

pub(crate) const HEADER_LEN: usize = 5;

/// Largest record body: 2^14 bytes of plaintext plus the 2048 bytes of
/// expansion that RFC 5246 section 6.2.3 allows a protected record.
pub(crate) const MAX_BODY_LEN: usize = (1 << 14) + 2048;

/// Largest handshake message joined, in bytes including its 4-byte header.
pub(crate) const MAX_HANDSHAKE_LEN: usize = 4 + (64 << 10);

/// One TLS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub content_type: u8,
    pub version: u16,
    pub body: Vec<u8>,
}

impl Record {
    /// Returns the 5-byte header as sent, the additional data of TLS 1.3 records.
    pub(crate) fn header(&self) -> [u8; HEADER_LEN] {
        let [version_high, version_low] = self.version.to_be_bytes();
        // Bodies never exceed MAX_BODY_LEN, so the length fits.
        let [length_high, length_low] = (self.body.len() as u16).to_be_bytes();
        [
            self.content_type,
            version_high,
            version_low,
            length_high,
            length_low,
        ]
    }

    /// Returns the number of bytes the record took in the stream.
    pub(crate) fn wire_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }
}

/// The stream is not a sequence of TLS records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("record has content type {0}, expected 20 to 24")]
    ContentType(u8),
    #[error("record has version {0:#06x}, expected 0x0300 to 0x0304")]
    Version(u16),
    #[error("record length {0} is over the maximum of {MAX_BODY_LEN} bytes")]
    Length(usize),
}

/// Splits one direction of a stream into records.
#[derive(Debug, Default)]
pub(crate) struct RecordReader {
    /// Bytes of the record being read: its header and the body so far.
    partial: Vec<u8>,
}

impl RecordReader {
    /// Adds stream bytes and appends every record they complete to `records`.
    pub(crate) fn push(
        &mut self,
        mut data: &[u8],
        records: &mut VecDeque<Record>,
    ) -> Result<(), RecordError> {
        while !data.is_empty() {
            if self.partial.len() < HEADER_LEN {
                let take = data.len().min(HEADER_LEN - self.partial.len());
                self.partial.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.partial.len() < HEADER_LEN {
                    return Ok(());
                }
                check_header(&self.partial)?;
            }

            let body_len = usize::from(u16::from_be_bytes([self.partial[3], self.partial[4]]));
            let missing = HEADER_LEN + body_len - self.partial.len();
            let take = data.len().min(missing);
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if take == missing {
                let body = self.partial.split_off(HEADER_LEN);
                records.push_back(Record {
                    content_type: self.partial[0],
                    version: u16::from_be_bytes([self.partial[1], self.partial[2]]),
                    body,
                });
                self.partial.clear();
            }
        }
        Ok(())
    }
}

fn check_header(header: &[u8]) -> Result<(), RecordError> {
    let content_type = header[0];
    if !(content_type::CHANGE_CIPHER_SPEC..=content_type::HEARTBEAT).contains(&content_type) {
        return Err(RecordError::ContentType(content_type));
    }
    let version = u16::from_be_bytes([header[1], header[2]]);
    if !(0x0300..=0x0304).contains(&version) {
        return Err(RecordError::Version(version));
    }
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if length > MAX_BODY_LEN {
        return Err(RecordError::Length(length));
    }
    Ok(())
}

/// A handshake message: its type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HandshakeMessage {
    pub handshake_type: u8,
    pub body: Vec<u8>,
}

/// Joins handshake messages across the plaintext handshake records of one direction.
#[derive(Debug, Default)]
pub(crate) struct HandshakeJoiner {
    buffer: Vec<u8>,
}

/// A handshake message longer than [`MAX_HANDSHAKE_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("handshake message of {0} bytes is over the maximum of {MAX_HANDSHAKE_LEN} bytes")]
pub(crate) struct HandshakeTooLong(pub usize);

impl HandshakeJoiner {
    /// Adds a record's handshake bytes and returns the messages they complete.
    pub(crate) fn push(
        &mut self,
        fragment: &[u8],
    ) -> Result<Vec<HandshakeMessage>, HandshakeTooLong> {
        self.buffer.extend_from_slice(fragment);
        let mut messages = Vec::new();
        let mut start = 0;
        while let Some(header) = self.buffer.get(start..start + 4) {
            let body_len =
                usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
            if 4 + body_len > MAX_HANDSHAKE_LEN {
                return Err(HandshakeTooLong(4 + body_len));
            }
            let Some(body) = self.buffer.get(start + 4..start + 4 + body_len) else {
                break;
            };
            messages.push(HandshakeMessage {
                handshake_type: header[0],
                body: body.to_vec(),
            });
            start += 4 + body_len;
        }
        self.buffer.drain(..start);
        Ok(messages)
    }
}

/// Returns the types of the complete handshake messages in a decrypted record.
pub(crate) fn handshake_types(plaintext: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = plaintext;
    while let [handshake_type, a, b, c, body @ ..] = rest {
        let body_len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
        types.push(*handshake_type);
        rest = body.get(body_len..).unwrap_or_default();
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_bytes(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![content_type, 3, 3];
        bytes.extend_from_slice(&(body.len() as u16).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn reader_splits_records_across_chunks() {
        let stream = [
            record_bytes(22, b"hello"),
            record_bytes(20, &[1]),
            record_bytes(23, &[9; 300]),
        ]
        .concat();
        for cut in 0..stream.len() {
            let mut reader = RecordReader::default();
            let mut records = VecDeque::new();
            reader.push(&stream[..cut], &mut records).unwrap();
            reader.push(&stream[cut..], &mut records).unwrap();
            let types: Vec<u8> = records.iter().map(|r| r.content_type).collect();
            assert_eq!(types, [22, 20, 23], "cut {cut}");
            assert_eq!(records[2].body.len(), 300);
            assert_eq!(records[0].header(), [22, 3, 3, 0, 5]);
        }
    }

    #[test]
    fn reader_rejects_non_tls() {
        let mut records = VecDeque::new();
        assert_eq!(
            RecordReader::default().push(b"GET / HTTP/1.1", &mut records),
            Err(RecordError::ContentType(b'G'))
        );
        assert_eq!(
            RecordReader::default().push(&[23, 2, 0, 0, 1], &mut records),
            Err(RecordError::Version(0x0200))
        );
        assert_eq!(
            RecordReader::default().push(&[23, 3, 3, 0xff, 0xff], &mut records),
            Err(RecordError::Length(0xffff))
        );
    }

    #[test]
    fn joiner_joins_messages_across_records() {
        let message = [&[2u8, 0, 0, 6][..], b"server"].concat();
        let second = [&[11u8, 0, 0, 2][..], b"ce"].concat();
        let stream = [message.clone(), second].concat();
        let mut joiner = HandshakeJoiner::default();

        assert!(joiner.push(&stream[..3]).unwrap().is_empty());
        let messages = joiner.push(&stream[3..12]).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].handshake_type, 2);
        assert_eq!(messages[0].body, b"server");
        let messages = joiner.push(&stream[12..]).unwrap();
        assert_eq!(messages[0].handshake_type, 11);
    }

    #[test]
    fn joiner_rejects_huge_message() {
        assert_eq!(
            HandshakeJoiner::default().push(&[1, 0x10, 0, 0]),
            Err(HandshakeTooLong(4 + 0x100000))
        );
    }

    #[test]
    fn handshake_types_listed() {
        let plaintext = [&[20u8, 0, 0, 2, 1, 2][..], &[24, 0, 0, 1, 0]].concat();
        assert_eq!(handshake_types(&plaintext), [20, 24]);
        assert_eq!(handshake_types(&[20, 0]), Vec::<u8>::new());
    }
}
