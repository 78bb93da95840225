//! The cipher suites whose records can be decrypted, by their IANA code points.
//!
//! NOTE: RC4, 3DES, CCM and Camellia suites are not in the tables, so sessions
//! that negotiate them stay encrypted and count as not followed.

/// Bulk cipher of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bulk {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
    Aes128Cbc,
    Aes256Cbc,
}

impl Bulk {
    /// Returns the key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes128Cbc => 16,
            Bulk::Aes256Gcm | Bulk::Aes256Cbc | Bulk::ChaCha20Poly1305 => 32,
        }
    }

    /// Returns the length of the IV taken from the TLS 1.0–1.2 key block:
    /// the implicit nonce part of an AEAD, or the TLS 1.0 CBC starting IV.
    pub(crate) fn key_block_iv_len(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes256Gcm => 4,
            Bulk::ChaCha20Poly1305 => 12,
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => 16,
        }
    }

    pub(crate) fn is_cbc(self) -> bool {
        matches!(self, Bulk::Aes128Cbc | Bulk::Aes256Cbc)
    }
}

/// A hash function of the key schedule or the record MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha384,
}

impl Hash {
    /// Returns the output length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// What decryption needs to know about a cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    pub id: u16,
    pub bulk: Bulk,
    /// HMAC of a CBC suite; `None` for an AEAD.
    pub mac: Option<Hash>,
    /// Hash of the TLS 1.2 PRF, or of the TLS 1.3 key schedule.
    pub hash: Hash,
}

const fn aead(id: u16, bulk: Bulk, hash: Hash) -> Suite {
    Suite {
        id,
        bulk,
        mac: None,
        hash,
    }
}

/// A CBC suite; its TLS 1.2 PRF uses SHA-384 only when its MAC does, and SHA-256 otherwise.
const fn cbc(id: u16, bulk: Bulk, mac: Hash) -> Suite {
    let hash = match mac {
        Hash::Sha384 => Hash::Sha384,
        _ => Hash::Sha256,
    };
    Suite {
        id,
        bulk,
        mac: Some(mac),
        hash,
    }
}

/// TLS 1.0–1.2 suites (RFC 5246, 5288, 5289, 7905), key exchange left out of the names.
const TLS12_SUITES: [Suite; 29] = [
    // RSA, DHE_RSA, DHE_DSS, ECDHE_ECDSA and ECDHE_RSA with AES-GCM.
    aead(0x009c, Bulk::Aes128Gcm, Hash::Sha256),
    aead(0x009d, Bulk::Aes256Gcm, Hash::Sha384),
    aead(0x009e, Bulk::Aes128Gcm, Hash::Sha256),
    aead(0x009f, Bulk::Aes256Gcm, Hash::Sha384),
    aead(0x00a2, Bulk::Aes128Gcm, Hash::Sha256),
    aead(0x00a3, Bulk::Aes256Gcm, Hash::Sha384),
    aead(0xc02b, Bulk::Aes128Gcm, Hash::Sha256),
    aead(0xc02c, Bulk::Aes256Gcm, Hash::Sha384),
    aead(0xc02f, Bulk::Aes128Gcm, Hash::Sha256),
    aead(0xc030, Bulk::Aes256Gcm, Hash::Sha384),
    // ECDHE_RSA, ECDHE_ECDSA and DHE_RSA with ChaCha20-Poly1305.
    aead(0xcca8, Bulk::ChaCha20Poly1305, Hash::Sha256),
    aead(0xcca9, Bulk::ChaCha20Poly1305, Hash::Sha256),
    aead(0xccaa, Bulk::ChaCha20Poly1305, Hash::Sha256),
    // RSA, DHE_RSA, ECDHE_ECDSA and ECDHE_RSA with AES-CBC and HMAC-SHA1.
    cbc(0x002f, Bulk::Aes128Cbc, Hash::Sha1),
    cbc(0x0035, Bulk::Aes256Cbc, Hash::Sha1),
    cbc(0x0033, Bulk::Aes128Cbc, Hash::Sha1),
    cbc(0x0039, Bulk::Aes256Cbc, Hash::Sha1),
    cbc(0xc009, Bulk::Aes128Cbc, Hash::Sha1),
    cbc(0xc00a, Bulk::Aes256Cbc, Hash::Sha1),
    cbc(0xc013, Bulk::Aes128Cbc, Hash::Sha1),
    cbc(0xc014, Bulk::Aes256Cbc, Hash::Sha1),
    // The same with HMAC-SHA256 and HMAC-SHA384 (TLS 1.2 only).
    cbc(0x003c, Bulk::Aes128Cbc, Hash::Sha256),
    cbc(0x003d, Bulk::Aes256Cbc, Hash::Sha256),
    cbc(0x0067, Bulk::Aes128Cbc, Hash::Sha256),
    cbc(0x006b, Bulk::Aes256Cbc, Hash::Sha256),
    cbc(0xc023, Bulk::Aes128Cbc, Hash::Sha256),
    cbc(0xc024, Bulk::Aes256Cbc, Hash::Sha384),
    cbc(0xc027, Bulk::Aes128Cbc, Hash::Sha256),
    cbc(0xc028, Bulk::Aes256Cbc, Hash::Sha384),
];

/// TLS 1.3 suites (RFC 8446 appendix B.4) without the CCM ones.
const TLS13_SUITES: [Suite; 3] = [
    aead(0x1301, Bulk::Aes128Gcm, Hash::Sha256),
    aead(0x1302, Bulk::Aes256Gcm, Hash::Sha384),
    aead(0x1303, Bulk::ChaCha20Poly1305, Hash::Sha256),
];

/// Returns a TLS 1.0–1.2 suite by code point.
pub(crate) fn tls12_suite(id: u16) -> Option<Suite> {
    TLS12_SUITES.iter().copied().find(|suite| suite.id == id)
}

/// Returns a TLS 1.3 suite by code point.
pub(crate) fn tls13_suite(id: u16) -> Option<Suite> {
    TLS13_SUITES.iter().copied().find(|suite| suite.id == id)
}

/// Returns the code points of every TLS 1.0–1.2 suite in the table.
#[cfg(test)]
pub(crate) fn tls12_suite_ids() -> Vec<u16> {
    TLS12_SUITES.iter().map(|suite| suite.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_tables_have_unique_ids() {
        let mut ids: Vec<u16> = TLS12_SUITES
            .iter()
            .chain(TLS13_SUITES.iter())
            .map(|suite| suite.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TLS12_SUITES.len() + TLS13_SUITES.len());
    }

    #[test]
    fn suite_lookup_by_version() {
        let gcm = tls12_suite(0xc030).unwrap();
        assert_eq!(gcm.bulk, Bulk::Aes256Gcm);
        assert_eq!(gcm.hash, Hash::Sha384);
        assert_eq!(gcm.mac, None);

        let cbc_sha = tls12_suite(0xc013).unwrap();
        assert_eq!(cbc_sha.mac, Some(Hash::Sha1));
        assert_eq!(cbc_sha.hash, Hash::Sha256);

        assert!(tls12_suite(0x1301).is_none());
        assert_eq!(tls13_suite(0x1303).unwrap().bulk, Bulk::ChaCha20Poly1305);
        assert!(tls13_suite(0x000a).is_none());
    }
}
