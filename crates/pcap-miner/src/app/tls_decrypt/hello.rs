//! The ClientHello and ServerHello fields that decryption uses.

use crate::app::tls::parse_client_hello;

const EXTENSION_ENCRYPT_THEN_MAC: u16 = 22;
const EXTENSION_EARLY_DATA: u16 = 42;
const EXTENSION_SUPPORTED_VERSIONS: u16 = 43;

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446 section 4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The ClientHello fields that decryption uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHelloInfo {
    pub random: [u8; 32],
    /// The client offered TLS 1.3 0-RTT data, which may follow the hello at once.
    pub offers_early_data: bool,
}

/// Reads a ClientHello body; `None` when it does not parse.
pub(crate) fn read_client_hello(body: &[u8]) -> Option<ClientHelloInfo> {
    let hello = parse_client_hello(body).ok()?;
    let random = hello.random().try_into().ok()?;
    let offers_early_data = extensions(hello.extensions().unwrap_or_default())
        .any(|(extension_type, _)| extension_type == EXTENSION_EARLY_DATA);
    Some(ClientHelloInfo {
        random,
        offers_early_data,
    })
}

/// The ServerHello fields that decryption uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerHello {
    pub random: [u8; 32],
    pub cipher_suite: u16,
    /// The negotiated version: supported_versions when present, else legacy_version.
    pub version: u16,
    pub encrypt_then_mac: bool,
    /// This is a HelloRetryRequest; the real ServerHello comes later.
    pub is_retry_request: bool,
}

/// Reads a ServerHello body (RFC 5246 section 7.4.1.3, RFC 8446 section 4.1.3);
/// `None` when it does not parse.
pub(crate) fn read_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut cursor = body;
    let legacy_version = take_u16(&mut cursor)?;
    let random: [u8; 32] = take(&mut cursor, 32)?.try_into().ok()?;
    let session_id_len = usize::from(*take(&mut cursor, 1)?.first()?);
    if session_id_len > 32 {
        return None;
    }
    take(&mut cursor, session_id_len)?;
    let cipher_suite = take_u16(&mut cursor)?;
    take(&mut cursor, 1)?;

    let mut hello = ServerHello {
        random,
        cipher_suite,
        version: legacy_version,
        encrypt_then_mac: false,
        is_retry_request: random == HELLO_RETRY_REQUEST_RANDOM,
    };
    if cursor.is_empty() {
        return Some(hello);
    }
    let extensions_len = usize::from(take_u16(&mut cursor)?);
    let block = take(&mut cursor, extensions_len)?;
    for (extension_type, data) in extensions(block) {
        match extension_type {
            EXTENSION_SUPPORTED_VERSIONS => {
                let mut data = data;
                hello.version = take_u16(&mut data)?;
            }
            EXTENSION_ENCRYPT_THEN_MAC => hello.encrypt_then_mac = true,
            _ => {}
        }
    }
    Some(hello)
}

/// Iterates over `(type, data)` of an extensions block, stopping at the first malformed entry.
fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = block;
    std::iter::from_fn(move || {
        let extension_type = take_u16(&mut rest)?;
        let len = usize::from(take_u16(&mut rest)?);
        let data = take(&mut rest, len)?;
        Some((extension_type, data))
    })
}

fn take<'a>(cursor: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if cursor.len() < len {
        return None;
    }
    let (taken, rest) = cursor.split_at(len);
    *cursor = rest;
    Some(taken)
}

fn take_u16(cursor: &mut &[u8]) -> Option<u16> {
    let bytes = take(cursor, 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ServerHello body.
    pub(crate) fn server_hello_body(
        random: [u8; 32],
        legacy_version: u16,
        suite: u16,
        extensions: &[(u16, Vec<u8>)],
    ) -> Vec<u8> {
        let mut body = legacy_version.to_be_bytes().to_vec();
        body.extend_from_slice(&random);
        body.push(32);
        body.extend_from_slice(&[0xaa; 32]);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        let mut block = Vec::new();
        for (extension_type, data) in extensions {
            block.extend_from_slice(&extension_type.to_be_bytes());
            block.extend_from_slice(&(data.len() as u16).to_be_bytes());
            block.extend_from_slice(data);
        }
        body.extend_from_slice(&(block.len() as u16).to_be_bytes());
        body.extend_from_slice(&block);
        body
    }

    #[test]
    fn server_hello_tls12_with_encrypt_then_mac() {
        let body = server_hello_body([7; 32], 0x0303, 0xc013, &[(22, vec![]), (65281, vec![0])]);
        let hello = read_server_hello(&body).unwrap();

        assert_eq!(hello.random, [7; 32]);
        assert_eq!(hello.cipher_suite, 0xc013);
        assert_eq!(hello.version, 0x0303);
        assert!(hello.encrypt_then_mac);
        assert!(!hello.is_retry_request);
    }

    #[test]
    fn server_hello_tls13_by_supported_versions() {
        let body = server_hello_body([1; 32], 0x0303, 0x1301, &[(43, vec![3, 4])]);
        assert_eq!(read_server_hello(&body).unwrap().version, 0x0304);

        let retry = server_hello_body(
            HELLO_RETRY_REQUEST_RANDOM,
            0x0303,
            0x1301,
            &[(43, vec![3, 4])],
        );
        assert!(read_server_hello(&retry).unwrap().is_retry_request);
    }

    #[test]
    fn server_hello_without_extensions() {
        let mut body = server_hello_body([2; 32], 0x0301, 0x002f, &[]);
        body.truncate(body.len() - 2);
        let hello = read_server_hello(&body).unwrap();
        assert_eq!(hello.version, 0x0301);
        assert!(!hello.encrypt_then_mac);
    }

    #[test]
    fn server_hello_truncated_rejected() {
        let body = server_hello_body([2; 32], 0x0303, 0xc02f, &[(43, vec![3, 4])]);
        for len in [0, 10, 34, 67, 69, 71] {
            assert!(read_server_hello(&body[..len]).is_none(), "length {len}");
        }
        assert!(read_server_hello(&body[..body.len() - 1]).is_none());
    }
}
