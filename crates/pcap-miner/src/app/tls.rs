//! TLS ClientHello server names (SNI) from a reassembled TCP client byte stream.
//!
//! [`ClientHelloJoiner`] joins the ClientHello across TLS records and stream chunks, and
//! [`parse_client_hello`] reads the joined handshake body without copying.

use thiserror::Error;

/// Maximum ClientHello body length in bytes (the handshake length field) that the joiner buffers.
///
/// NOTE: the wire format allows bodies of about 128 KiB, so this cap rejects some valid but
/// unusually large hellos. The browser-shaped test hello with a post-quantum key share has a
/// 1713-byte body.
pub const MAX_CLIENT_HELLO_LEN: usize = 64 * 1024;

/// Maximum TLSPlaintext fragment length (2^14 bytes, RFC 8446 section 5.1).
pub const MAX_RECORD_LEN: usize = 1 << 14;

const RECORD_HEADER_LEN: usize = 5;
const HANDSHAKE_HEADER_LEN: usize = 4;
const RANDOM_LEN: usize = 32;
const MAX_SESSION_ID_LEN: usize = 32;

const CONTENT_TYPE_HANDSHAKE: u8 = 22;
const HANDSHAKE_TYPE_CLIENT_HELLO: u8 = 1;
const RECORD_VERSION_MAJOR: u8 = 3;
const MAX_RECORD_VERSION_MINOR: u8 = 4;
const EXTENSION_SERVER_NAME: u16 = 0;
const NAME_TYPE_HOST_NAME: u8 = 0;

/// Failure to join or parse a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("tls record has content type {content_type}, expected 22 (handshake)")]
    NotHandshakeRecord { content_type: u8 },

    #[error("tls record has version {major}.{minor}, expected 3.0 to 3.4")]
    BadRecordVersion { major: u8, minor: u8 },

    #[error("tls record length {length} is over the maximum of {max} bytes")]
    RecordTooLong { length: usize, max: usize },

    #[error("handshake message has type {handshake_type}, expected 1 (client_hello)")]
    NotClientHello { handshake_type: u8 },

    #[error("client hello length {length} is over the maximum of {max} bytes")]
    ClientHelloTooLong { length: usize, max: usize },

    #[error("client hello field {field} is truncated: {needed} bytes needed, {present} present")]
    Truncated {
        field: &'static str,
        needed: usize,
        present: usize,
    },

    #[error("client hello has {count} unexpected bytes after {field}")]
    TrailingBytes { field: &'static str, count: usize },

    #[error("client hello field {field} has length {length}, expected {expected}")]
    InvalidLength {
        field: &'static str,
        length: usize,
        expected: &'static str,
    },

    #[error("client hello has more than one extension of type {extension_type}")]
    DuplicateExtension { extension_type: u16 },
}

/// Returns true when `data` could be the start of a TLS record holding a ClientHello.
///
/// Checks content type 22, version 3.0 to 3.4, a record length of at most [`MAX_RECORD_LEN`]
/// and, from the sixth byte on, handshake type 1. A shorter prefix passes when its bytes fit.
/// A stream that opens with a zero-length record returns false once its sixth byte is present.
pub fn starts_client_hello(data: &[u8]) -> bool {
    let header = data.get(..RECORD_HEADER_LEN).unwrap_or(data);
    if check_record_header(header).is_err() {
        return false;
    }
    // The joiner waits for the minor version before it reports a bad version, but a wrong
    // major version alone already rules the prefix out.
    if data
        .get(1)
        .is_some_and(|&major| major != RECORD_VERSION_MAJOR)
    {
        return false;
    }

    match data.get(RECORD_HEADER_LEN) {
        Some(&handshake_type) => handshake_type == HANDSHAKE_TYPE_CLIENT_HELLO,
        None => true,
    }
}

/// Validates the bytes present of a record header and returns the record length once all 5
/// bytes are there.
//
// RFC 8446 section 5.1:
//   struct {
//       ContentType type;                 /* 22 = handshake */
//       ProtocolVersion legacy_record_version;
//       uint16 length;
//       opaque fragment[TLSPlaintext.length];
//   } TLSPlaintext;
fn check_record_header(header: &[u8]) -> Result<Option<usize>, TlsError> {
    if let Some(&content_type) = header.first() {
        if content_type != CONTENT_TYPE_HANDSHAKE {
            return Err(TlsError::NotHandshakeRecord { content_type });
        }
    }

    if let Some(&[major, minor]) = header.get(1..3) {
        if major != RECORD_VERSION_MAJOR || minor > MAX_RECORD_VERSION_MINOR {
            return Err(TlsError::BadRecordVersion { major, minor });
        }
    }

    let Some(&[high, low]) = header.get(3..RECORD_HEADER_LEN) else {
        return Ok(None);
    };
    let length = usize::from(u16::from_be_bytes([high, low]));
    if length > MAX_RECORD_LEN {
        return Err(TlsError::RecordTooLong {
            length,
            max: MAX_RECORD_LEN,
        });
    }
    Ok(Some(length))
}

/// Progress of [`ClientHelloJoiner::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinProgress {
    /// More stream bytes are needed, and all of the pushed data was consumed.
    NeedMore,
    /// The ClientHello is complete, and the last record that carried its bytes ended after
    /// `consumed` bytes of the last push.
    Done {
        consumed: usize,
        server_names: Vec<Vec<u8>>,
    },
}

/// Incremental joiner of one ClientHello from the records of a TLS client stream.
///
/// Buffers at most one record header and one handshake message of up to [`MAX_CLIENT_HELLO_LEN`]
/// body bytes, growing only with the bytes received. After `Done` it starts over for a following
/// ClientHello, and after an error every later push returns that error again.
#[derive(Debug, Clone, Default)]
pub struct ClientHelloJoiner {
    record_header: [u8; RECORD_HEADER_LEN],
    record_header_len: usize,
    /// Payload bytes of the current record that have not arrived yet.
    record_remaining: usize,
    /// Handshake header and body joined so far.
    message: Vec<u8>,
    /// Handshake message length including its header, known once the header is complete.
    message_len: Option<usize>,
    /// Names of the parsed ClientHello, held until its last record ends.
    server_names: Option<Vec<Vec<u8>>>,
    error: Option<TlsError>,
}

impl ClientHelloJoiner {
    /// Creates a joiner positioned at the start of a record header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes the next chunk of the client stream and reports whether the ClientHello is
    /// complete.
    ///
    /// Skips bytes after the ClientHello within its last record. Returns an error for a record that
    /// is not a handshake record, a handshake message other than ClientHello, or a malformed hello.
    pub fn push(&mut self, data: &[u8]) -> Result<JoinProgress, TlsError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }

        let result = self.push_records(data);
        if let Err(error) = &result {
            self.error = Some(error.clone());
        }
        result
    }

    fn push_records(&mut self, data: &[u8]) -> Result<JoinProgress, TlsError> {
        let mut offset = 0;
        loop {
            let rest = data.get(offset..).unwrap_or_default();

            if self.record_remaining == 0 {
                if let Some(server_names) = self.server_names.take() {
                    *self = Self::new();
                    return Ok(JoinProgress::Done {
                        consumed: offset,
                        server_names,
                    });
                }
                if rest.is_empty() {
                    return Ok(JoinProgress::NeedMore);
                }
                offset += self.read_record_header(rest)?;
                continue;
            }

            if rest.is_empty() {
                return Ok(JoinProgress::NeedMore);
            }
            let count = rest.len().min(self.record_remaining);
            let fragment = rest.get(..count).unwrap_or_default();
            self.record_remaining -= count;
            offset += count;
            if self.server_names.is_none() {
                self.read_handshake_bytes(fragment)?;
            }
        }
    }

    /// Copies record header bytes from `rest`, validates them and returns how many it consumed.
    fn read_record_header(&mut self, rest: &[u8]) -> Result<usize, TlsError> {
        let count = rest.len().min(RECORD_HEADER_LEN - self.record_header_len);
        let header_end = self.record_header_len + count;
        if let (Some(target), Some(source)) = (
            self.record_header
                .get_mut(self.record_header_len..header_end),
            rest.get(..count),
        ) {
            target.copy_from_slice(source);
        }
        self.record_header_len = header_end;

        let header = self
            .record_header
            .get(..self.record_header_len)
            .unwrap_or_default();
        if let Some(length) = check_record_header(header)? {
            self.record_remaining = length;
            self.record_header_len = 0;
        }
        Ok(count)
    }

    /// Appends the handshake bytes of one record fragment and parses the ClientHello once it is
    /// complete.
    //
    // RFC 8446 section 4:
    //   struct {
    //       HandshakeType msg_type;    /* 1 = client_hello */
    //       uint24 length;             /* bytes in the body */
    //       select (Handshake.msg_type) { case client_hello: ClientHello; ... };
    //   } Handshake;
    fn read_handshake_bytes(&mut self, fragment: &[u8]) -> Result<(), TlsError> {
        let mut fragment = fragment;

        if self.message.len() < HANDSHAKE_HEADER_LEN {
            let count = fragment
                .len()
                .min(HANDSHAKE_HEADER_LEN - self.message.len());
            self.message
                .extend_from_slice(fragment.get(..count).unwrap_or_default());
            fragment = fragment.get(count..).unwrap_or_default();

            if let Some(&handshake_type) = self.message.first() {
                if handshake_type != HANDSHAKE_TYPE_CLIENT_HELLO {
                    return Err(TlsError::NotClientHello { handshake_type });
                }
            }
            let Some(&[_, high, middle, low]) = self.message.get(..HANDSHAKE_HEADER_LEN) else {
                return Ok(());
            };
            let length = usize::from(high) << 16 | usize::from(middle) << 8 | usize::from(low);
            if length > MAX_CLIENT_HELLO_LEN {
                return Err(TlsError::ClientHelloTooLong {
                    length,
                    max: MAX_CLIENT_HELLO_LEN,
                });
            }
            self.message_len = Some(HANDSHAKE_HEADER_LEN + length);
        }

        let Some(message_len) = self.message_len else {
            return Ok(());
        };
        let count = fragment
            .len()
            .min(message_len.saturating_sub(self.message.len()));
        self.message
            .extend_from_slice(fragment.get(..count).unwrap_or_default());

        if self.message.len() == message_len {
            let body = self.message.get(HANDSHAKE_HEADER_LEN..).unwrap_or_default();
            let hello = parse_client_hello(body)?;
            self.server_names = Some(hello.server_names().map(<[u8]>::to_vec).collect());
        }
        Ok(())
    }
}

/// Borrowed view of a parsed ClientHello body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHelloSlice<'a> {
    legacy_version: u16,
    random: &'a [u8],
    legacy_session_id: &'a [u8],
    cipher_suites: &'a [u8],
    legacy_compression_methods: &'a [u8],
    extensions: Option<&'a [u8]>,
    /// Validated ServerNameList contents, empty when there is no server_name extension.
    server_name_list: &'a [u8],
}

impl<'a> ClientHelloSlice<'a> {
    /// Returns the legacy_version field, 0x0303 for TLS 1.2 and 1.3 clients.
    pub fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    /// Returns the 32-byte client random.
    pub fn random(&self) -> &'a [u8] {
        self.random
    }

    /// Returns the legacy_session_id bytes.
    pub fn legacy_session_id(&self) -> &'a [u8] {
        self.legacy_session_id
    }

    /// Returns the cipher_suites vector contents, two bytes per suite in the order sent.
    pub fn cipher_suites(&self) -> &'a [u8] {
        self.cipher_suites
    }

    /// Returns the legacy_compression_methods bytes.
    pub fn legacy_compression_methods(&self) -> &'a [u8] {
        self.legacy_compression_methods
    }

    /// Returns the extensions block contents, or `None` for a hello that ends after its
    /// compression methods.
    pub fn extensions(&self) -> Option<&'a [u8]> {
        self.extensions
    }

    /// Iterates over the host_name entries of the server_name extension in the order sent.
    pub fn server_names(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        ServerNameEntries {
            cursor: Cursor::new(self.server_name_list),
        }
        .filter(|&(name_type, _)| name_type == NAME_TYPE_HOST_NAME)
        .map(|(_, name)| name)
    }
}

/// Iterator over the (name_type, name) entries of a ServerNameList that was validated before.
struct ServerNameEntries<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Iterator for ServerNameEntries<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor.is_empty() {
            return None;
        }
        read_server_name_entry(&mut self.cursor).ok()
    }
}

/// Parses one complete ClientHello handshake body (after the 4-byte handshake header) without
/// copying. A hello without extensions, or without server_name, parses with no server names.
//
// RFC 8446 section 4.1.2. RFC 5246 lets a TLS 1.2 hello end before the extensions or send an
// empty block, so both are accepted here.
//   struct {
//       ProtocolVersion legacy_version;
//       Random random;                                 /* 32 bytes */
//       opaque legacy_session_id<0..32>;
//       CipherSuite cipher_suites<2..2^16-2>;
//       opaque legacy_compression_methods<1..2^8-1>;
//       Extension extensions<8..2^16-1>;
//   } ClientHello;
//
//   struct {
//       ExtensionType extension_type;
//       opaque extension_data<0..2^16-1>;
//   } Extension;
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHelloSlice<'_>, TlsError> {
    let mut cursor = Cursor::new(body);
    let legacy_version = cursor.read_u16("legacy_version")?;
    let random = cursor.take(RANDOM_LEN, "random")?;

    let session_id_len = usize::from(cursor.read_u8("legacy_session_id length")?);
    if session_id_len > MAX_SESSION_ID_LEN {
        return Err(TlsError::InvalidLength {
            field: "legacy_session_id",
            length: session_id_len,
            expected: "0 to 32",
        });
    }
    let legacy_session_id = cursor.take(session_id_len, "legacy_session_id")?;

    let cipher_suites = cursor.read_vector16("cipher_suites length", "cipher_suites")?;
    if cipher_suites.is_empty() || cipher_suites.len() % 2 != 0 {
        return Err(TlsError::InvalidLength {
            field: "cipher_suites",
            length: cipher_suites.len(),
            expected: "an even number from 2 to 65534",
        });
    }

    let legacy_compression_methods = cursor.read_vector8(
        "legacy_compression_methods length",
        "legacy_compression_methods",
    )?;
    if legacy_compression_methods.is_empty() {
        return Err(TlsError::InvalidLength {
            field: "legacy_compression_methods",
            length: 0,
            expected: "1 to 255",
        });
    }

    let mut hello = ClientHelloSlice {
        legacy_version,
        random,
        legacy_session_id,
        cipher_suites,
        legacy_compression_methods,
        extensions: None,
        server_name_list: &[],
    };
    if cursor.is_empty() {
        return Ok(hello);
    }

    let extensions = cursor.read_vector16("extensions length", "extensions")?;
    if !cursor.is_empty() {
        return Err(TlsError::TrailingBytes {
            field: "extensions",
            count: cursor.remaining(),
        });
    }
    hello.extensions = Some(extensions);
    hello.server_name_list = find_server_name_list(extensions)?;
    Ok(hello)
}

/// Walks the extensions block and returns the validated ServerNameList, empty when absent.
fn find_server_name_list(extensions: &[u8]) -> Result<&[u8], TlsError> {
    let mut cursor = Cursor::new(extensions);
    let mut server_name_list = None;

    while !cursor.is_empty() {
        let extension_type = cursor.read_u16("extension_type")?;
        let extension_data = cursor.read_vector16("extension_data length", "extension_data")?;
        if extension_type != EXTENSION_SERVER_NAME {
            continue;
        }
        if server_name_list.is_some() {
            return Err(TlsError::DuplicateExtension { extension_type });
        }
        server_name_list = Some(parse_server_name_extension(extension_data)?);
    }
    Ok(server_name_list.unwrap_or_default())
}

/// Validates server_name extension data and returns its ServerNameList contents.
//
// RFC 6066 section 3:
//   struct {
//       NameType name_type;
//       select (name_type) { case host_name: HostName; } name;
//   } ServerName;
//   enum { host_name(0), (255) } NameType;
//   opaque HostName<1..2^16-1>;
//   struct { ServerName server_name_list<1..2^16-1> } ServerNameList;
fn parse_server_name_extension(extension_data: &[u8]) -> Result<&[u8], TlsError> {
    let mut cursor = Cursor::new(extension_data);
    let list = cursor.read_vector16("server_name_list length", "server_name_list")?;
    if !cursor.is_empty() {
        return Err(TlsError::TrailingBytes {
            field: "server_name_list",
            count: cursor.remaining(),
        });
    }
    if list.is_empty() {
        return Err(TlsError::InvalidLength {
            field: "server_name_list",
            length: 0,
            expected: "1 to 65535",
        });
    }

    let mut entries = Cursor::new(list);
    while !entries.is_empty() {
        let (name_type, name) = read_server_name_entry(&mut entries)?;
        if name_type == NAME_TYPE_HOST_NAME && name.is_empty() {
            return Err(TlsError::InvalidLength {
                field: "host_name",
                length: 0,
                expected: "1 to 65535",
            });
        }
    }
    Ok(list)
}

/// Reads one ServerName entry as (name_type, name).
///
/// RFC 6066 defines only host_name, so other name types are assumed to use the same
/// 2-byte length prefix and are skipped by [`ClientHelloSlice::server_names`].
fn read_server_name_entry<'a>(cursor: &mut Cursor<'a>) -> Result<(u8, &'a [u8]), TlsError> {
    let name_type = cursor.read_u8("name_type")?;
    let name = cursor.read_vector16("host_name length", "host_name")?;
    Ok((name_type, name))
}

/// Forward-only reader over a byte slice that reports truncation with the field name.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, count: usize, field: &'static str) -> Result<&'a [u8], TlsError> {
        let (Some(head), Some(tail)) = (self.bytes.get(..count), self.bytes.get(count..)) else {
            return Err(TlsError::Truncated {
                field,
                needed: count,
                present: self.bytes.len(),
            });
        };
        self.bytes = tail;
        Ok(head)
    }

    fn read_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], TlsError> {
        let Some((head, tail)) = self.bytes.split_first_chunk::<N>() else {
            return Err(TlsError::Truncated {
                field,
                needed: N,
                present: self.bytes.len(),
            });
        };
        self.bytes = tail;
        Ok(*head)
    }

    fn read_u8(&mut self, field: &'static str) -> Result<u8, TlsError> {
        let [value] = self.read_array::<1>(field)?;
        Ok(value)
    }

    fn read_u16(&mut self, field: &'static str) -> Result<u16, TlsError> {
        self.read_array::<2>(field).map(u16::from_be_bytes)
    }

    /// Reads a vector with a 1-byte length prefix.
    fn read_vector8(
        &mut self,
        length_field: &'static str,
        field: &'static str,
    ) -> Result<&'a [u8], TlsError> {
        let length = usize::from(self.read_u8(length_field)?);
        self.take(length, field)
    }

    /// Reads a vector with a 2-byte length prefix.
    fn read_vector16(
        &mut self,
        length_field: &'static str,
        field: &'static str,
    ) -> Result<&'a [u8], TlsError> {
        let length = usize::from(self.read_u16(length_field)?);
        self.take(length, field)
    }
}

/// Appends `name` to `out`, writing bytes outside 0x21..=0x7E as `\DDD` (three decimal digits).
///
/// NOTE: a backslash (0x5C) is printable and kept as is, so a name that contains `\` followed
/// by three digits prints the same as an escaped byte.
pub fn write_escaped_name(name: &[u8], out: &mut String) {
    for &byte in name {
        if (0x21..=0x7e).contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('\\');
            out.push(char::from(b'0' + byte / 100));
            out.push(char::from(b'0' + byte / 10 % 10));
            out.push(char::from(b'0' + byte % 10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREASE_EXTENSION_FIRST: u16 = 0x0a0a;
    const GREASE_EXTENSION_LAST: u16 = 0xbaba;
    const GREASE_GROUP: u16 = 0x2a2a;
    const GREASE_VERSION: u16 = 0x7a7a;
    const GROUP_X25519_MLKEM768: u16 = 0x11ec;
    const GROUP_X25519: u16 = 0x001d;
    const EXTENSION_PADDING: u16 = 21;
    const EXTENSION_KEY_SHARE: u16 = 51;
    const EXTENSION_ECH: u16 = 0xfe0d;

    /// ClientHello body fields, encoded by `body` and `handshake`.
    #[derive(Clone)]
    struct HelloBuilder {
        legacy_version: u16,
        session_id: Vec<u8>,
        cipher_suites: Vec<u16>,
        compression_methods: Vec<u8>,
        /// `None` encodes a hello that ends after its compression methods.
        extensions: Option<Vec<(u16, Vec<u8>)>>,
    }

    impl HelloBuilder {
        fn new() -> Self {
            Self {
                legacy_version: 0x0303,
                session_id: (0..32).collect(),
                cipher_suites: vec![0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f],
                compression_methods: vec![0],
                extensions: Some(Vec::new()),
            }
        }

        fn legacy_version(mut self, version: u16) -> Self {
            self.legacy_version = version;
            self
        }

        fn session_id(mut self, session_id: &[u8]) -> Self {
            self.session_id = session_id.to_vec();
            self
        }

        fn extension(mut self, extension_type: u16, data: Vec<u8>) -> Self {
            self.extensions
                .get_or_insert_with(Vec::new)
                .push((extension_type, data));
            self
        }

        fn without_extensions(mut self) -> Self {
            self.extensions = None;
            self
        }

        fn body(&self) -> Vec<u8> {
            let mut body = Vec::new();
            body.extend_from_slice(&self.legacy_version.to_be_bytes());
            body.extend((0..32u8).map(|i| i.wrapping_mul(7)));
            body.push(u8::try_from(self.session_id.len()).unwrap());
            body.extend_from_slice(&self.session_id);
            push_u16(&mut body, self.cipher_suites.len() * 2);
            for suite in &self.cipher_suites {
                body.extend_from_slice(&suite.to_be_bytes());
            }
            body.push(u8::try_from(self.compression_methods.len()).unwrap());
            body.extend_from_slice(&self.compression_methods);

            if let Some(extensions) = &self.extensions {
                let mut block = Vec::new();
                for (extension_type, data) in extensions {
                    block.extend_from_slice(&extension_type.to_be_bytes());
                    push_u16(&mut block, data.len());
                    block.extend_from_slice(data);
                }
                push_u16(&mut body, block.len());
                body.extend_from_slice(&block);
            }
            body
        }

        fn handshake(&self) -> Vec<u8> {
            handshake_message(HANDSHAKE_TYPE_CLIENT_HELLO, &self.body())
        }
    }

    fn push_u16(out: &mut Vec<u8>, value: usize) {
        out.extend_from_slice(&u16::try_from(value).unwrap().to_be_bytes());
    }

    fn handshake_message(handshake_type: u8, body: &[u8]) -> Vec<u8> {
        let length = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut message = vec![handshake_type, length[1], length[2], length[3]];
        message.extend_from_slice(body);
        message
    }

    fn record(content_type: u8, minor: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![content_type, 3, minor];
        push_u16(&mut bytes, payload.len());
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Splits `message` into handshake records that end at the given message offsets.
    fn records(message: &[u8], boundaries: &[usize], minor: u8) -> Vec<u8> {
        let mut stream = Vec::new();
        let mut start = 0;
        for &end in boundaries.iter().chain(std::iter::once(&message.len())) {
            stream.extend(record(CONTENT_TYPE_HANDSHAKE, minor, &message[start..end]));
            start = end;
        }
        stream
    }

    fn server_name_data(entries: &[(u8, &[u8])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (name_type, name) in entries {
            list.push(*name_type);
            push_u16(&mut list, name.len());
            list.extend_from_slice(name);
        }
        let mut data = Vec::new();
        push_u16(&mut data, list.len());
        data.extend(list);
        data
    }

    fn host_names(names: &[&[u8]]) -> Vec<u8> {
        let entries: Vec<(u8, &[u8])> = names.iter().map(|name| (0, *name)).collect();
        server_name_data(&entries)
    }

    /// Builds a u16-prefixed list of u16 values.
    fn u16_list(values: &[u16]) -> Vec<u8> {
        let mut data = Vec::new();
        push_u16(&mut data, values.len() * 2);
        for value in values {
            data.extend_from_slice(&value.to_be_bytes());
        }
        data
    }

    fn key_share_data() -> Vec<u8> {
        let mut shares = Vec::new();
        for (group, length) in [
            (GREASE_GROUP, 1),
            (GROUP_X25519_MLKEM768, 1216),
            (GROUP_X25519, 32),
        ] {
            shares.extend_from_slice(&group.to_be_bytes());
            push_u16(&mut shares, length);
            shares.extend((0..length).map(|i| (i % 251) as u8));
        }
        let mut data = Vec::new();
        push_u16(&mut data, shares.len());
        data.extend(shares);
        data
    }

    fn supported_versions_data() -> Vec<u8> {
        let mut data = vec![6];
        for version in [GREASE_VERSION, 0x0304, 0x0303] {
            data.extend_from_slice(&version.to_be_bytes());
        }
        data
    }

    fn ech_outer_data() -> Vec<u8> {
        // ECHClientHello outer: type 0, HPKE KDF and AEAD ids, config_id, enc<0..2^16-1>,
        // payload<1..2^16-1>.
        let mut data = vec![0, 0x00, 0x01, 0x00, 0x01, 0x42];
        push_u16(&mut data, 32);
        data.extend([0x55; 32]);
        push_u16(&mut data, 144);
        data.extend([0xaa; 144]);
        data
    }

    /// Builds a hello shaped like a current browser's, with `server_name` after the key share.
    fn browser_hello(server_name: Vec<u8>) -> HelloBuilder {
        HelloBuilder::new()
            .extension(GREASE_EXTENSION_FIRST, Vec::new())
            .extension(23, Vec::new())
            .extension(0xff01, vec![0])
            .extension(
                10,
                u16_list(&[GREASE_GROUP, GROUP_X25519_MLKEM768, GROUP_X25519, 0x0017]),
            )
            .extension(11, vec![1, 0])
            .extension(35, Vec::new())
            .extension(16, b"\x00\x0c\x02h2\x08http/1.1".to_vec())
            .extension(5, vec![1, 0, 0, 0, 0])
            .extension(13, u16_list(&[0x0403, 0x0804, 0x0401, 0x0503]))
            .extension(18, Vec::new())
            .extension(EXTENSION_KEY_SHARE, key_share_data())
            .extension(EXTENSION_SERVER_NAME, server_name)
            .extension(45, vec![1, 1])
            .extension(43, supported_versions_data())
            .extension(27, vec![2, 0, 2])
            .extension(17613, vec![0, 3, 2, b'h', b'2'])
            .extension(EXTENSION_ECH, ech_outer_data())
            .extension(GREASE_EXTENSION_LAST, vec![0])
            .extension(EXTENSION_PADDING, vec![0; 23])
    }

    fn names_of(body: &[u8]) -> Vec<Vec<u8>> {
        parse_client_hello(body)
            .unwrap()
            .server_names()
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn position_of(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
            .unwrap()
    }

    fn truncated(field: &'static str, needed: usize, present: usize) -> TlsError {
        TlsError::Truncated {
            field,
            needed,
            present,
        }
    }

    fn done(consumed: usize, names: &[&[u8]]) -> JoinProgress {
        JoinProgress::Done {
            consumed,
            server_names: names.iter().map(|name| name.to_vec()).collect(),
        }
    }

    // ---- parse_client_hello ----

    #[test]
    fn parse_one_name() {
        let body = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"example.com"]))
            .body();

        assert_eq!(names_of(&body), vec![b"example.com".to_vec()]);
        assert_eq!(parse_client_hello(&body).unwrap().legacy_version(), 0x0303);
    }

    #[test]
    fn parse_two_names() {
        let body = HelloBuilder::new()
            .extension(
                EXTENSION_SERVER_NAME,
                host_names(&[b"a.example", b"b.example"]),
            )
            .body();

        assert_eq!(
            names_of(&body),
            vec![b"a.example".to_vec(), b"b.example".to_vec()]
        );
    }

    #[test]
    fn parse_browser_hello_with_pq_key_share() {
        let body = browser_hello(host_names(&[b"www.example.org"])).body();

        assert!(body.len() > 1500, "body is {} bytes", body.len());
        assert_eq!(names_of(&body), vec![b"www.example.org".to_vec()]);
    }

    #[test]
    fn parse_keeps_names_as_sent() {
        let names: [&[u8]; 4] = [
            b"192.0.2.7",
            b"[2001:db8::1]:443",
            b"MiXeD.Example.",
            b"a b\xff",
        ];
        let body = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&names))
            .body();

        let expected: Vec<Vec<u8>> = names.iter().map(|name| name.to_vec()).collect();
        assert_eq!(names_of(&body), expected);
    }

    #[test]
    fn parse_skips_other_name_types() {
        let body = HelloBuilder::new()
            .extension(
                EXTENSION_SERVER_NAME,
                server_name_data(&[(7, b"opaque"), (0, b"host.example"), (9, b"")]),
            )
            .body();

        assert_eq!(names_of(&body), vec![b"host.example".to_vec()]);
    }

    #[test]
    fn parse_without_server_name() {
        let mut builder = browser_hello(Vec::new());
        builder
            .extensions
            .as_mut()
            .unwrap()
            .retain(|(extension_type, _)| *extension_type != EXTENSION_SERVER_NAME);

        let body = builder.body();
        let hello = parse_client_hello(&body).unwrap();
        assert_eq!(hello.server_names().count(), 0);
        assert!(hello.extensions().is_some());
    }

    #[test]
    fn parse_rejects_empty_server_name_extension() {
        let body = browser_hello(Vec::new()).body();

        assert_eq!(
            parse_client_hello(&body).unwrap_err(),
            truncated("server_name_list length", 2, 0)
        );
    }

    #[test]
    fn parse_without_extensions() {
        let body = HelloBuilder::new()
            .legacy_version(0x0301)
            .without_extensions()
            .body();

        let hello = parse_client_hello(&body).unwrap();
        assert_eq!(hello.server_names().count(), 0);
        assert_eq!(hello.extensions(), None);
        assert_eq!(hello.legacy_version(), 0x0301);
        assert_eq!(hello.legacy_session_id().len(), 32);
        assert_eq!(hello.cipher_suites().len(), 12);
        assert_eq!(hello.legacy_compression_methods(), &[0]);
        assert_eq!(hello.random().len(), 32);
    }

    #[test]
    fn parse_empty_extensions_block() {
        let body = HelloBuilder::new().session_id(&[]).body();

        let hello = parse_client_hello(&body).unwrap();
        assert_eq!(hello.extensions(), Some(&[][..]));
        assert_eq!(hello.server_names().count(), 0);
    }

    /// Returns the expected result of parsing `body` cut to `length` bytes.
    fn expected_cut_error(builder: &HelloBuilder, length: usize) -> Option<TlsError> {
        let session_id_len = builder.session_id.len();
        let suites_len = builder.cipher_suites.len() * 2;
        let compression_len = builder.compression_methods.len();
        let body_len = builder.body().len();

        let mut segments = vec![
            ("legacy_version", 2),
            ("random", 32),
            ("legacy_session_id length", 1),
            ("legacy_session_id", session_id_len),
            ("cipher_suites length", 2),
            ("cipher_suites", suites_len),
            ("legacy_compression_methods length", 1),
            ("legacy_compression_methods", compression_len),
        ];
        let fixed_len: usize = segments.iter().map(|(_, len)| len).sum();
        if length == fixed_len {
            return None;
        }
        segments.push(("extensions length", 2));
        segments.push(("extensions", body_len - fixed_len - 2));

        let mut start = 0;
        for (field, len) in segments {
            if length < start + len {
                return Some(truncated(field, len, length - start));
            }
            start += len;
        }
        None
    }

    #[test]
    fn parse_every_truncation_of_body() {
        let builder = browser_hello(host_names(&[b"cut.example"]));
        let body = builder.body();
        let extensions_start = position_of(&body, &[0x0a, 0x0a, 0x00, 0x00]) - 2;

        for length in 0..body.len() {
            let result = parse_client_hello(&body[..length]);
            match expected_cut_error(&builder, length) {
                Some(expected) => assert_eq!(result.unwrap_err(), expected, "cut at {length}"),
                None => {
                    assert_eq!(length, extensions_start, "cut at {length}");
                    let hello = result.unwrap();
                    assert_eq!(hello.server_names().count(), 0, "cut at {length}");
                    assert_eq!(hello.extensions(), None, "cut at {length}");
                }
            }
        }
        assert_eq!(names_of(&body), vec![b"cut.example".to_vec()]);
    }

    #[test]
    fn parse_truncated_inside_extensions_block() {
        // Each case is the extensions block contents and the error of the inner structure.
        let cases: Vec<(Vec<u8>, TlsError)> = vec![
            (vec![0x00], truncated("extension_type", 2, 1)),
            (
                vec![0x00, 0x10, 0x00],
                truncated("extension_data length", 2, 1),
            ),
            (
                vec![0x00, 0x10, 0x00, 0x05, 1, 2],
                truncated("extension_data", 5, 2),
            ),
            (
                vec![0, 0, 0, 1, 0],
                truncated("server_name_list length", 2, 1),
            ),
            (
                vec![0, 0, 0, 3, 0, 4, 0],
                truncated("server_name_list", 4, 1),
            ),
            (
                vec![0, 0, 0, 2, 0, 0],
                TlsError::InvalidLength {
                    field: "server_name_list",
                    length: 0,
                    expected: "1 to 65535",
                },
            ),
            (
                vec![0, 0, 0, 4, 0, 1, 0, 9],
                TlsError::TrailingBytes {
                    field: "server_name_list",
                    count: 1,
                },
            ),
            (
                vec![0, 0, 0, 4, 0, 2, 0, 0],
                truncated("host_name length", 2, 1),
            ),
            (
                vec![0, 0, 0, 7, 0, 5, 0, 0, 4, b'a', b'b'],
                truncated("host_name", 4, 2),
            ),
            (
                vec![0, 0, 0, 5, 0, 3, 0, 0, 0],
                TlsError::InvalidLength {
                    field: "host_name",
                    length: 0,
                    expected: "1 to 65535",
                },
            ),
        ];

        for (block, expected) in cases {
            let mut body = HelloBuilder::new().without_extensions().body();
            push_u16(&mut body, block.len());
            body.extend_from_slice(&block);
            assert_eq!(
                parse_client_hello(&body).unwrap_err(),
                expected,
                "block {block:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_invalid_lengths() {
        let mut long_session_id = HelloBuilder::new().without_extensions().body();
        long_session_id[34] = 33;
        assert_eq!(
            parse_client_hello(&long_session_id).unwrap_err(),
            TlsError::InvalidLength {
                field: "legacy_session_id",
                length: 33,
                expected: "0 to 32",
            }
        );

        let mut odd_suites = HelloBuilder::new().session_id(&[]).without_extensions();
        odd_suites.cipher_suites.clear();
        let mut body = odd_suites.body();
        body.splice(35..37, [0, 3, 0x13, 0x01, 0x13]);
        assert_eq!(
            parse_client_hello(&body).unwrap_err(),
            TlsError::InvalidLength {
                field: "cipher_suites",
                length: 3,
                expected: "an even number from 2 to 65534",
            }
        );

        let body = odd_suites.body();
        assert_eq!(
            parse_client_hello(&body).unwrap_err(),
            TlsError::InvalidLength {
                field: "cipher_suites",
                length: 0,
                expected: "an even number from 2 to 65534",
            }
        );

        let mut no_compression = HelloBuilder::new().without_extensions();
        no_compression.compression_methods.clear();
        assert_eq!(
            parse_client_hello(&no_compression.body()).unwrap_err(),
            TlsError::InvalidLength {
                field: "legacy_compression_methods",
                length: 0,
                expected: "1 to 255",
            }
        );
    }

    #[test]
    fn parse_rejects_bytes_after_extensions() {
        let mut body = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"x.example"]))
            .body();
        body.extend_from_slice(&[0, 0, 0]);

        assert_eq!(
            parse_client_hello(&body).unwrap_err(),
            TlsError::TrailingBytes {
                field: "extensions",
                count: 3,
            }
        );
    }

    #[test]
    fn parse_rejects_duplicate_server_name() {
        let body = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"one.example"]))
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"two.example"]))
            .body();

        assert_eq!(
            parse_client_hello(&body).unwrap_err(),
            TlsError::DuplicateExtension { extension_type: 0 }
        );
    }

    // ---- ClientHelloJoiner ----

    #[test]
    fn joiner_single_record() {
        let message = browser_hello(host_names(&[b"one.example"])).handshake();
        let stream = records(&message, &[], 1);

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[b"one.example"]));
    }

    #[test]
    fn joiner_two_records_split_in_extensions() {
        let message = browser_hello(host_names(&[b"split.example"])).handshake();
        let name_at = position_of(&message, b"split.example");
        let stream = records(&message, &[name_at + 3], 1);

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[b"split.example"]));
    }

    #[test]
    fn joiner_three_records_split_in_extensions() {
        let message = browser_hello(host_names(&[b"a.example", b"b.example"])).handshake();
        let key_share_at = position_of(&message, &GROUP_X25519_MLKEM768.to_be_bytes()[..]);
        let name_at = position_of(&message, b"b.example");
        let stream = records(&message, &[key_share_at + 600, name_at - 1], 3);

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[b"a.example", b"b.example"]));
    }

    #[test]
    fn joiner_handshake_header_split_over_records() {
        let message = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"hdr.example"]))
            .handshake();
        let stream = records(&message, &[1, 1, 3], 0);

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[b"hdr.example"]));
    }

    #[test]
    fn joiner_one_byte_at_a_time() {
        let message = browser_hello(host_names(&[b"slow.example"])).handshake();
        let name_at = position_of(&message, b"slow.example");
        let stream = records(&message, &[700, name_at + 5], 1);
        let mut joiner = ClientHelloJoiner::new();

        let (last, prefix) = stream.split_last().unwrap();
        for (index, byte) in prefix.iter().enumerate() {
            let progress = joiner.push(std::slice::from_ref(byte)).unwrap();
            assert_eq!(progress, JoinProgress::NeedMore, "byte {index}");
        }
        let progress = joiner.push(std::slice::from_ref(last)).unwrap();
        assert_eq!(progress, done(1, &[b"slow.example"]));
    }

    #[test]
    fn joiner_consumed_stops_before_application_data() {
        let message = browser_hello(host_names(&[b"app.example"])).handshake();
        let mut stream = records(&message, &[900], 1);
        let hello_len = stream.len();
        stream.extend(record(20, 3, &[1]));
        stream.extend(record(23, 3, b"early data"));

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(hello_len, &[b"app.example"]));
    }

    #[test]
    fn joiner_consumed_counts_last_push_only() {
        let message = browser_hello(host_names(&[b"part.example"])).handshake();
        let mut stream = records(&message, &[400], 1);
        let hello_len = stream.len();
        stream.extend_from_slice(b"after");
        let mut joiner = ClientHelloJoiner::new();

        assert_eq!(joiner.push(&stream[..300]).unwrap(), JoinProgress::NeedMore);
        let progress = joiner.push(&stream[300..]).unwrap();
        assert_eq!(progress, done(hello_len - 300, &[b"part.example"]));
    }

    #[test]
    fn joiner_skips_record_tail_after_hello() {
        let mut payload = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"tail.example"]))
            .handshake();
        payload.extend(handshake_message(20, &[0; 12]));
        let stream = record(CONTENT_TYPE_HANDSHAKE, 1, &payload);
        let mut joiner = ClientHelloJoiner::new();

        assert_eq!(
            joiner.push(&stream[..stream.len() - 1]).unwrap(),
            JoinProgress::NeedMore
        );
        let progress = joiner.push(&stream[stream.len() - 1..]).unwrap();
        assert_eq!(progress, done(1, &[b"tail.example"]));
    }

    #[test]
    fn joiner_accepts_zero_length_records() {
        let message = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"zero.example"]))
            .handshake();
        let mut stream = record(CONTENT_TYPE_HANDSHAKE, 1, &[]);
        stream.extend(records(&message, &[10, 10], 1));

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[b"zero.example"]));
    }

    #[test]
    fn joiner_without_server_name() {
        let message = HelloBuilder::new().without_extensions().handshake();
        let stream = records(&message, &[50], 0);

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[]));
    }

    #[test]
    fn joiner_restarts_after_done() {
        let first = records(
            &HelloBuilder::new()
                .extension(EXTENSION_SERVER_NAME, host_names(&[b"first.example"]))
                .handshake(),
            &[],
            1,
        );
        let second = records(
            &HelloBuilder::new()
                .extension(EXTENSION_SERVER_NAME, host_names(&[b"second.example"]))
                .handshake(),
            &[20],
            3,
        );
        let mut joiner = ClientHelloJoiner::new();

        assert_eq!(
            joiner.push(&first).unwrap(),
            done(first.len(), &[b"first.example"])
        );
        assert_eq!(
            joiner.push(&second).unwrap(),
            done(second.len(), &[b"second.example"])
        );
    }

    #[test]
    fn joiner_rejects_other_record_before_hello_ends() {
        let message = browser_hello(host_names(&[b"x.example"])).handshake();
        for content_type in [20, 21, 23] {
            let mut stream = record(CONTENT_TYPE_HANDSHAKE, 1, &message[..100]);
            stream.extend(record(content_type, 3, &[2, 40]));
            let mut joiner = ClientHelloJoiner::new();

            let error = joiner.push(&stream).unwrap_err();
            assert_eq!(error, TlsError::NotHandshakeRecord { content_type });
            assert_eq!(
                joiner.push(&stream).unwrap_err(),
                error,
                "error is not kept"
            );
        }
    }

    #[test]
    fn joiner_rejects_first_byte_of_other_record() {
        let mut joiner = ClientHelloJoiner::new();

        assert_eq!(
            joiner.push(&[21]).unwrap_err(),
            TlsError::NotHandshakeRecord { content_type: 21 }
        );
    }

    #[test]
    fn joiner_rejects_bad_record_version() {
        for (major, minor) in [(2, 0), (3, 5), (0x16, 0x03)] {
            let error = ClientHelloJoiner::new()
                .push(&[CONTENT_TYPE_HANDSHAKE, major, minor, 0, 4])
                .unwrap_err();
            assert_eq!(error, TlsError::BadRecordVersion { major, minor });
        }
    }

    #[test]
    fn joiner_rejects_record_over_maximum() {
        let error = ClientHelloJoiner::new()
            .push(&[CONTENT_TYPE_HANDSHAKE, 3, 1, 0x40, 0x01])
            .unwrap_err();

        assert_eq!(
            error,
            TlsError::RecordTooLong {
                length: MAX_RECORD_LEN + 1,
                max: MAX_RECORD_LEN,
            }
        );
    }

    #[test]
    fn joiner_rejects_other_handshake_type() {
        let message = handshake_message(2, &[0; 40]);
        let stream = records(&message, &[], 3);

        assert_eq!(
            ClientHelloJoiner::new().push(&stream).unwrap_err(),
            TlsError::NotClientHello { handshake_type: 2 }
        );
    }

    #[test]
    fn joiner_rejects_oversize_hello() {
        let stream = record(CONTENT_TYPE_HANDSHAKE, 1, &[1, 0x01, 0x00, 0x01]);

        assert_eq!(
            ClientHelloJoiner::new().push(&stream).unwrap_err(),
            TlsError::ClientHelloTooLong {
                length: MAX_CLIENT_HELLO_LEN + 1,
                max: MAX_CLIENT_HELLO_LEN,
            }
        );
    }

    #[test]
    fn joiner_accepts_hello_at_maximum() {
        let server_name = host_names(&[b"big.example"]);
        let extension_headers_len = 2 * 4;
        let padding_len = MAX_CLIENT_HELLO_LEN
            - HelloBuilder::new().body().len()
            - server_name.len()
            - extension_headers_len;
        let builder = HelloBuilder::new()
            .extension(EXTENSION_SERVER_NAME, server_name)
            .extension(EXTENSION_PADDING, vec![0; padding_len]);
        let message = builder.handshake();
        assert_eq!(message.len(), HANDSHAKE_HEADER_LEN + MAX_CLIENT_HELLO_LEN);
        let boundaries: Vec<usize> = (1..message.len().div_ceil(MAX_RECORD_LEN))
            .map(|index| index * MAX_RECORD_LEN)
            .collect();
        let stream = records(&message, &boundaries, 1);

        let progress = ClientHelloJoiner::new().push(&stream).unwrap();
        assert_eq!(progress, done(stream.len(), &[b"big.example"]));
    }

    #[test]
    fn joiner_rejects_malformed_hello() {
        let message = handshake_message(HANDSHAKE_TYPE_CLIENT_HELLO, &[3, 3, 0]);
        let stream = records(&message, &[], 1);

        assert_eq!(
            ClientHelloJoiner::new().push(&stream).unwrap_err(),
            truncated("random", 32, 1)
        );
    }

    #[test]
    fn joiner_every_prefix_needs_more() {
        let message = browser_hello(host_names(&[b"prefix.example", b"10.0.0.1"])).handshake();
        let name_at = position_of(&message, b"prefix.example");
        let mut stream = records(&message, &[2, 800, name_at + 4], 1);
        let hello_len = stream.len();
        stream.extend(record(23, 3, b"application data"));

        for cut in 0..hello_len {
            let mut joiner = ClientHelloJoiner::new();
            let first = joiner.push(&stream[..cut]);
            assert_eq!(first, Ok(JoinProgress::NeedMore), "cut at {cut}");

            let second = joiner.push(&stream[cut..]);
            let expected = done(hello_len - cut, &[b"prefix.example", b"10.0.0.1"]);
            assert_eq!(second, Ok(expected), "cut at {cut}");
        }
    }

    // ---- starts_client_hello ----

    #[test]
    fn starts_client_hello_on_prefixes() {
        let message = browser_hello(host_names(&[b"s.example"])).handshake();
        let stream = records(&message, &[], 1);

        for length in 0..=stream.len() {
            assert!(starts_client_hello(&stream[..length]), "prefix {length}");
        }
        for minor in 0..=4 {
            assert!(
                starts_client_hello(&[22, 3, minor, 0, 200, 1]),
                "minor {minor}"
            );
        }
    }

    #[test]
    fn starts_client_hello_rejects_other_data() {
        let cases: [&[u8]; 9] = [
            &[23],
            &[21, 3, 3],
            &[22, 2],
            &[22, 3, 5],
            &[22, 3, 1, 0x40, 0x01],
            &[22, 3, 1, 0, 200, 2],
            &[22, 3, 1, 0, 0, 22],
            b"GET / HTTP/1.1\r\n",
            b"\x16\x03\x01\x00\xc8\x0b",
        ];

        for data in cases {
            assert!(!starts_client_hello(data), "data {data:?}");
        }
    }

    // ---- write_escaped_name ----

    #[test]
    fn escape_writes_decimal_escapes() {
        let cases: [(&[u8], &str); 6] = [
            (b"example.com", "example.com"),
            (b"a b", "a\\032b"),
            (b"\x7f", "\\127"),
            (b"\xff", "\\255"),
            (b"\x00\x09\x21\x7e", "\\000\\009!~"),
            (b"[::1]:443\\", "[::1]:443\\"),
        ];

        for (name, expected) in cases {
            let mut out = String::from(">");
            write_escaped_name(name, &mut out);
            assert_eq!(out, format!(">{expected}"), "name {name:?}");
        }
    }

    // ---- error messages ----

    #[test]
    fn error_messages_name_values() {
        let cases = [
            (
                TlsError::NotHandshakeRecord { content_type: 23 },
                "tls record has content type 23, expected 22 (handshake)",
            ),
            (
                TlsError::BadRecordVersion { major: 3, minor: 9 },
                "tls record has version 3.9, expected 3.0 to 3.4",
            ),
            (
                TlsError::NotClientHello { handshake_type: 2 },
                "handshake message has type 2, expected 1 (client_hello)",
            ),
            (
                TlsError::ClientHelloTooLong {
                    length: 70000,
                    max: 65536,
                },
                "client hello length 70000 is over the maximum of 65536 bytes",
            ),
            (
                truncated("random", 32, 5),
                "client hello field random is truncated: 32 bytes needed, 5 present",
            ),
        ];

        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }

    // ---- random input ----

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
        let message = HelloBuilder::new()
            .extension(GREASE_EXTENSION_FIRST, Vec::new())
            .extension(EXTENSION_SERVER_NAME, host_names(&[b"r.example", b"q"]))
            .extension(EXTENSION_PADDING, vec![0; 8])
            .handshake();
        let valid_stream = records(&message, &[30, 60], 1);
        let mut done_count = 0;

        for _ in 0..10_000 {
            let mut input = if random.below(2) == 0 {
                let length = random.below(300);
                (0..length).map(|_| random.next() as u8).collect()
            } else {
                valid_stream.clone()
            };
            if !input.is_empty() {
                for _ in 0..=random.below(4) {
                    let index = random.below(input.len());
                    input[index] = random.next() as u8;
                }
            }

            let _ = starts_client_hello(&input);
            if let Ok(hello) = parse_client_hello(&input) {
                for name in hello.server_names() {
                    write_escaped_name(name, &mut String::new());
                }
            }

            let mut joiner = ClientHelloJoiner::new();
            let mut offset = 0;
            while offset < input.len() {
                let end = (offset + 1 + random.below(64)).min(input.len());
                match joiner.push(&input[offset..end]) {
                    Ok(JoinProgress::NeedMore) => offset = end,
                    Ok(JoinProgress::Done { consumed, .. }) => {
                        assert!(consumed <= end - offset);
                        done_count += 1;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        assert!(done_count > 0, "no mutated stream completed a hello");
    }
}
