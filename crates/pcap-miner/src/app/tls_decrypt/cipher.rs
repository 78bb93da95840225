//! Record decryption: TLS 1.0–1.2 AEAD and CBC records, and TLS 1.3 records.

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use aes::{Aes128, Aes256};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::keys::{DirectionKeys, TLS11};
use super::record::{content_type, Record};
use super::suite::{Bulk, Hash, Suite};

const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const GCM_EXPLICIT_NONCE_LEN: usize = 8;
const AES_BLOCK_LEN: usize = 16;

/// A record could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecryptError {
    /// The tag, MAC or padding did not check out: wrong keys, or damaged data.
    #[error("record failed authentication")]
    Authentication,
    /// The record is too short or not block-aligned for its cipher.
    #[error("record length does not fit the cipher")]
    Length,
}

/// An AEAD with its key.
pub(crate) enum Aead {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
}

impl Aead {
    /// Creates the AEAD of an AEAD suite; `None` for a CBC suite or a key of the wrong length.
    pub(crate) fn new(bulk: Bulk, key: &[u8]) -> Option<Self> {
        match bulk {
            Bulk::Aes128Gcm => Aes128Gcm::new_from_slice(key)
                .ok()
                .map(|aead| Aead::Aes128Gcm(Box::new(aead))),
            Bulk::Aes256Gcm => Aes256Gcm::new_from_slice(key)
                .ok()
                .map(|aead| Aead::Aes256Gcm(Box::new(aead))),
            Bulk::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(key)
                .ok()
                .map(|aead| Aead::ChaCha20Poly1305(Box::new(aead))),
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => None,
        }
    }

    /// Decrypts `sealed` (ciphertext then 16-byte tag); returns the plaintext.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        let Some(text_len) = sealed.len().checked_sub(TAG_LEN) else {
            return Err(DecryptError::Length);
        };
        let mut text = sealed[..text_len].to_vec();
        let tag = GenericArray::from_slice(&sealed[text_len..]);
        let nonce = GenericArray::from_slice(nonce);
        let result = match self {
            Aead::Aes128Gcm(aead) => aead.decrypt_in_place_detached(nonce, aad, &mut text, tag),
            Aead::Aes256Gcm(aead) => aead.decrypt_in_place_detached(nonce, aad, &mut text, tag),
            Aead::ChaCha20Poly1305(aead) => {
                aead.decrypt_in_place_detached(nonce, aad, &mut text, tag)
            }
        };
        result.map_err(|_| DecryptError::Authentication)?;
        Ok(text)
    }
}

/// XORs the big-endian sequence number into the low bytes of a 12-byte IV (RFC 8446 section 5.3).
pub(crate) fn sequence_nonce(iv: &[u8; NONCE_LEN], sequence: u64) -> [u8; NONCE_LEN] {
    let mut nonce = *iv;
    for (byte, mask) in nonce[4..].iter_mut().zip(sequence.to_be_bytes()) {
        *byte ^= mask;
    }
    nonce
}

/// Decrypts one direction of a TLS 1.0–1.2 session after its ChangeCipherSpec.
pub(crate) struct Tls12Decrypter {
    protection: Protection,
    sequence: u64,
}

enum Protection {
    Aead {
        aead: Aead,
        /// The 4-byte implicit nonce of GCM, or the 12-byte IV of ChaCha20-Poly1305.
        iv: Vec<u8>,
    },
    Cbc {
        bulk: Bulk,
        key: Vec<u8>,
        mac: Hash,
        mac_key: Vec<u8>,
        /// TLS 1.0 only: the IV of the next record, the last ciphertext block of the one before.
        chained_iv: Option<[u8; AES_BLOCK_LEN]>,
        encrypt_then_mac: bool,
    },
}

impl Tls12Decrypter {
    /// Creates the decrypter of a direction; `None` when the keys do not fit the suite.
    pub(crate) fn new(
        version: u16,
        suite: &Suite,
        keys: DirectionKeys,
        encrypt_then_mac: bool,
    ) -> Option<Self> {
        let protection = match suite.mac {
            None => Protection::Aead {
                aead: Aead::new(suite.bulk, &keys.key)?,
                iv: keys.iv,
            },
            Some(mac) => Protection::Cbc {
                bulk: suite.bulk,
                key: keys.key,
                mac,
                mac_key: keys.mac_key,
                chained_iv: if version < TLS11 {
                    Some(keys.iv.as_slice().try_into().ok()?)
                } else {
                    None
                },
                encrypt_then_mac,
            },
        };
        Some(Tls12Decrypter {
            protection,
            sequence: 0,
        })
    }

    /// Decrypts the next record of the direction and returns its plaintext.
    ///
    /// The sequence number advances only when the record authenticates.
    pub(crate) fn decrypt(&mut self, record: &Record) -> Result<Vec<u8>, DecryptError> {
        let plaintext = match &mut self.protection {
            Protection::Aead { aead, iv } => open_tls12_aead(aead, iv, self.sequence, record)?,
            Protection::Cbc {
                bulk,
                key,
                mac,
                mac_key,
                chained_iv,
                encrypt_then_mac,
            } => {
                let cbc = CbcRecord {
                    bulk: *bulk,
                    key,
                    mac: *mac,
                    mac_key,
                    sequence: self.sequence,
                };
                if *encrypt_then_mac {
                    cbc.open_encrypt_then_mac(record, chained_iv)?
                } else {
                    cbc.open_mac_then_encrypt(record, chained_iv)?
                }
            }
        };
        self.sequence += 1;
        Ok(plaintext)
    }
}

/// The additional data of TLS 1.0–1.2 MACs and AEADs: sequence, type, version, length.
fn tls12_additional_data(sequence: u64, record: &Record, length: usize) -> [u8; 13] {
    let mut data = [0; 13];
    data[..8].copy_from_slice(&sequence.to_be_bytes());
    data[8] = record.content_type;
    data[9..11].copy_from_slice(&record.version.to_be_bytes());
    // Record bodies are at most 2^14 + 2048 bytes, so the length fits.
    data[11..].copy_from_slice(&(length as u16).to_be_bytes());
    data
}

/// Opens a GCM record (RFC 5288: 8-byte explicit nonce first) or a
/// ChaCha20-Poly1305 record (RFC 7905: nonce from the IV and the sequence number).
fn open_tls12_aead(
    aead: &Aead,
    iv: &[u8],
    sequence: u64,
    record: &Record,
) -> Result<Vec<u8>, DecryptError> {
    let body = record.body.as_slice();
    let (nonce, sealed) = match aead {
        Aead::ChaCha20Poly1305(_) => {
            let iv: &[u8; NONCE_LEN] = iv.try_into().map_err(|_| DecryptError::Length)?;
            (sequence_nonce(iv, sequence), body)
        }
        Aead::Aes128Gcm(_) | Aead::Aes256Gcm(_) => {
            if body.len() < GCM_EXPLICIT_NONCE_LEN + TAG_LEN || iv.len() != 4 {
                return Err(DecryptError::Length);
            }
            let mut nonce = [0; NONCE_LEN];
            nonce[..4].copy_from_slice(iv);
            nonce[4..].copy_from_slice(&body[..GCM_EXPLICIT_NONCE_LEN]);
            (nonce, &body[GCM_EXPLICIT_NONCE_LEN..])
        }
    };
    let Some(plaintext_len) = sealed.len().checked_sub(TAG_LEN) else {
        return Err(DecryptError::Length);
    };
    let aad = tls12_additional_data(sequence, record, plaintext_len);
    aead.open(&nonce, &aad, sealed)
}

/// One CBC record's keys and MAC inputs.
struct CbcRecord<'k> {
    bulk: Bulk,
    key: &'k [u8],
    mac: Hash,
    mac_key: &'k [u8],
    sequence: u64,
}

impl CbcRecord<'_> {
    /// MAC-then-encrypt (RFC 5246 section 6.2.3.2): decrypt, check and strip
    /// the padding, then check the MAC over the content.
    fn open_mac_then_encrypt(
        &self,
        record: &Record,
        chained_iv: &mut Option<[u8; AES_BLOCK_LEN]>,
    ) -> Result<Vec<u8>, DecryptError> {
        let mac_len = self.mac.len();
        let mut plaintext = self.decrypt_blocks(&record.body, chained_iv)?;

        let content_len = strip_padding(&plaintext)?
            .checked_sub(mac_len)
            .ok_or(DecryptError::Authentication)?;
        let aad = tls12_additional_data(self.sequence, record, content_len);
        let (content, rest) = plaintext.split_at(content_len);
        if !self.mac_matches(&aad, content, &rest[..mac_len]) {
            return Err(DecryptError::Authentication);
        }
        plaintext.truncate(content_len);
        Ok(plaintext)
    }

    /// Encrypt-then-MAC (RFC 7366): check the MAC over the IV and ciphertext,
    /// then decrypt and strip the padding.
    fn open_encrypt_then_mac(
        &self,
        record: &Record,
        chained_iv: &mut Option<[u8; AES_BLOCK_LEN]>,
    ) -> Result<Vec<u8>, DecryptError> {
        let mac_len = self.mac.len();
        let Some(sealed_len) = record.body.len().checked_sub(mac_len) else {
            return Err(DecryptError::Length);
        };
        let (sealed, mac) = record.body.split_at(sealed_len);
        let aad = tls12_additional_data(self.sequence, record, sealed_len);
        if !self.mac_matches(&aad, sealed, mac) {
            return Err(DecryptError::Authentication);
        }

        let mut plaintext = self.decrypt_blocks(sealed, chained_iv)?;
        let content_len = strip_padding(&plaintext)?;
        plaintext.truncate(content_len);
        Ok(plaintext)
    }

    /// Decrypts whole blocks; TLS 1.1 and later take the IV from the first block.
    fn decrypt_blocks(
        &self,
        sealed: &[u8],
        chained_iv: &mut Option<[u8; AES_BLOCK_LEN]>,
    ) -> Result<Vec<u8>, DecryptError> {
        if sealed.is_empty() || sealed.len() % AES_BLOCK_LEN != 0 {
            return Err(DecryptError::Length);
        }
        let (iv, ciphertext) = match chained_iv {
            Some(iv) => (*iv, sealed),
            None => {
                let (iv, rest) = sealed.split_at(AES_BLOCK_LEN);
                let iv: [u8; AES_BLOCK_LEN] = iv.try_into().map_err(|_| DecryptError::Length)?;
                (iv, rest)
            }
        };
        if ciphertext.is_empty() {
            return Err(DecryptError::Length);
        }

        let mut blocks = ciphertext.to_vec();
        let decrypted = match self.bulk {
            Bulk::Aes128Cbc => decrypt_cbc::<Aes128>(self.key, &iv, &mut blocks),
            Bulk::Aes256Cbc => decrypt_cbc::<Aes256>(self.key, &iv, &mut blocks),
            _ => None,
        };
        decrypted.ok_or(DecryptError::Length)?;
        if let Some(next_iv) = chained_iv {
            let last = &ciphertext[ciphertext.len() - AES_BLOCK_LEN..];
            next_iv.copy_from_slice(last);
        }
        Ok(blocks)
    }

    fn mac_matches(&self, aad: &[u8; 13], content: &[u8], expected: &[u8]) -> bool {
        match self.mac {
            Hash::Sha1 => hmac_matches::<Hmac<Sha1>>(self.mac_key, aad, content, expected),
            Hash::Sha256 => hmac_matches::<Hmac<Sha256>>(self.mac_key, aad, content, expected),
            Hash::Sha384 => hmac_matches::<Hmac<Sha384>>(self.mac_key, aad, content, expected),
        }
    }
}

fn decrypt_cbc<C>(key: &[u8], iv: &[u8; AES_BLOCK_LEN], blocks: &mut [u8]) -> Option<()>
where
    C: aes::cipher::BlockDecryptMut + aes::cipher::BlockCipher + aes::cipher::KeyInit,
    cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
{
    let mut decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    for block in blocks.chunks_exact_mut(AES_BLOCK_LEN) {
        decryptor.decrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    Some(())
}

fn hmac_matches<M: Mac + hmac::digest::KeyInit>(
    key: &[u8],
    aad: &[u8],
    content: &[u8],
    expected: &[u8],
) -> bool {
    let Ok(mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.chain_update(aad)
        .chain_update(content)
        .verify_slice(expected)
        .is_ok()
}

/// Checks TLS CBC padding (every padding byte equals the padding length) and
/// returns the length before it.
fn strip_padding(plaintext: &[u8]) -> Result<usize, DecryptError> {
    let Some(&padding_len) = plaintext.last() else {
        return Err(DecryptError::Authentication);
    };
    let padding_len = usize::from(padding_len);
    let Some(content_end) = plaintext.len().checked_sub(padding_len + 1) else {
        return Err(DecryptError::Authentication);
    };
    if plaintext[content_end..]
        .iter()
        .any(|&byte| usize::from(byte) != padding_len)
    {
        return Err(DecryptError::Authentication);
    }
    Ok(content_end)
}

/// Decrypts one direction of a TLS 1.3 session under one traffic secret.
pub(crate) struct Tls13Decrypter {
    aead: Aead,
    iv: [u8; NONCE_LEN],
    sequence: u64,
}

impl Tls13Decrypter {
    /// Creates the decrypter from a traffic key and IV.
    pub(crate) fn new(bulk: Bulk, key: &[u8], iv: &[u8]) -> Option<Self> {
        Some(Tls13Decrypter {
            aead: Aead::new(bulk, key)?,
            iv: iv.try_into().ok()?,
            sequence: 0,
        })
    }

    /// Decrypts the next record and returns its real content type and content
    /// (RFC 8446 section 5.2: zero padding after the type is removed).
    ///
    /// The sequence number advances only when the record authenticates.
    pub(crate) fn decrypt(&mut self, record: &Record) -> Result<(u8, Vec<u8>), DecryptError> {
        if record.content_type != content_type::APPLICATION_DATA {
            return Err(DecryptError::Authentication);
        }
        let nonce = sequence_nonce(&self.iv, self.sequence);
        let header = record.header();
        let mut plaintext = self.aead.open(&nonce, &header, &record.body)?;
        self.sequence += 1;

        let Some(type_at) = plaintext.iter().rposition(|&byte| byte != 0) else {
            // An authenticated record without a content type is the sender's protocol error, so it counts as a failure.
            return Err(DecryptError::Authentication);
        };
        let inner_type = plaintext[type_at];
        plaintext.truncate(type_at);
        Ok((inner_type, plaintext))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aes::cipher::BlockEncryptMut;
    use aes_gcm::aead::AeadInPlace;

    use super::*;
    use crate::app::tls_decrypt::keys::{TLS10, TLS12};
    use crate::app::tls_decrypt::suite::tls12_suite;

    /// Test-side encryption of TLS 1.0–1.2 records, the mirror of the decrypter.
    pub(crate) struct Tls12Sealer<'k> {
        pub version: u16,
        pub suite: Suite,
        pub keys: &'k DirectionKeys,
        pub encrypt_then_mac: bool,
        /// TLS 1.0: the IV of the next record.
        pub chained_iv: [u8; 16],
        /// Sequence number of the next record.
        pub sequence: u64,
    }

    impl Tls12Sealer<'_> {
        pub(crate) fn new(
            version: u16,
            suite: Suite,
            keys: &DirectionKeys,
            encrypt_then_mac: bool,
        ) -> Tls12Sealer<'_> {
            let chained_iv = keys.iv.as_slice().try_into().unwrap_or([0; 16]);
            Tls12Sealer {
                version,
                suite,
                keys,
                encrypt_then_mac,
                chained_iv,
                sequence: 0,
            }
        }

        pub(crate) fn seal(&mut self, content_type: u8, content: &[u8]) -> Record {
            let mut record = Record {
                content_type,
                version: self.version,
                body: Vec::new(),
            };
            record.body = match self.suite.mac {
                None => self.seal_aead(&record, content),
                Some(mac) => self.seal_cbc(mac, &record, content),
            };
            self.sequence += 1;
            record
        }

        fn seal_aead(&self, record: &Record, content: &[u8]) -> Vec<u8> {
            let aad = tls12_additional_data(self.sequence, record, content.len());
            let aead = Aead::new(self.suite.bulk, &self.keys.key).unwrap();
            let (nonce, explicit_nonce) = if self.suite.bulk == Bulk::ChaCha20Poly1305 {
                let iv: [u8; 12] = self.keys.iv.as_slice().try_into().unwrap();
                (sequence_nonce(&iv, self.sequence), Vec::new())
            } else {
                // Any explicit nonce works as long as it is sent; this one differs from the sequence.
                let explicit = (self.sequence ^ 0x5a5a).to_be_bytes();
                let mut nonce = [0; 12];
                nonce[..4].copy_from_slice(&self.keys.iv);
                nonce[4..].copy_from_slice(&explicit);
                (nonce, explicit.to_vec())
            };
            let mut text = content.to_vec();
            let nonce = GenericArray::from_slice(&nonce);
            let tag = match &aead {
                Aead::Aes128Gcm(a) => a.encrypt_in_place_detached(nonce, &aad, &mut text),
                Aead::Aes256Gcm(a) => a.encrypt_in_place_detached(nonce, &aad, &mut text),
                Aead::ChaCha20Poly1305(a) => a.encrypt_in_place_detached(nonce, &aad, &mut text),
            }
            .unwrap();
            [explicit_nonce, text, tag.to_vec()].concat()
        }

        fn seal_cbc(&mut self, mac: Hash, record: &Record, content: &[u8]) -> Vec<u8> {
            let aad = tls12_additional_data(self.sequence, record, content.len());
            let mut plaintext = content.to_vec();
            if !self.encrypt_then_mac {
                plaintext.extend(hmac_tag(mac, &self.keys.mac_key, &[&aad, content]));
            }
            let padding = 15 - plaintext.len() % 16;
            plaintext.resize(plaintext.len() + padding + 1, padding as u8);

            let mut body = if self.version < TLS11 {
                encrypt_cbc(
                    self.suite.bulk,
                    &self.keys.key,
                    &self.chained_iv,
                    &mut plaintext,
                );
                self.chained_iv
                    .copy_from_slice(&plaintext[plaintext.len() - 16..]);
                plaintext
            } else {
                let explicit_iv = [0x42u8; 16];
                encrypt_cbc(
                    self.suite.bulk,
                    &self.keys.key,
                    &explicit_iv,
                    &mut plaintext,
                );
                [explicit_iv.to_vec(), plaintext].concat()
            };
            if self.encrypt_then_mac {
                let aad = tls12_additional_data(self.sequence, record, body.len());
                let tag = hmac_tag(mac, &self.keys.mac_key, &[&aad, &body]);
                body.extend(tag);
            }
            body
        }
    }

    fn hmac_tag(mac: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn tag<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match mac {
            Hash::Sha1 => tag::<Hmac<Sha1>>(key, parts),
            Hash::Sha256 => tag::<Hmac<Sha256>>(key, parts),
            Hash::Sha384 => tag::<Hmac<Sha384>>(key, parts),
        }
    }

    fn encrypt_cbc(bulk: Bulk, key: &[u8], iv: &[u8; 16], data: &mut [u8]) {
        match bulk {
            Bulk::Aes128Cbc => {
                let mut encryptor = cbc::Encryptor::<Aes128>::new_from_slices(key, iv).unwrap();
                for block in data.chunks_exact_mut(16) {
                    encryptor.encrypt_block_mut(GenericArray::from_mut_slice(block));
                }
            }
            _ => {
                let mut encryptor = cbc::Encryptor::<Aes256>::new_from_slices(key, iv).unwrap();
                for block in data.chunks_exact_mut(16) {
                    encryptor.encrypt_block_mut(GenericArray::from_mut_slice(block));
                }
            }
        }
    }

    fn test_keys(suite: &Suite) -> DirectionKeys {
        DirectionKeys {
            mac_key: vec![0x11; suite.mac.map_or(0, Hash::len)],
            key: vec![0x22; suite.bulk.key_len()],
            iv: vec![0x33; suite.bulk.key_block_iv_len()],
        }
    }

    fn round_trip(version: u16, suite_id: u16, encrypt_then_mac: bool) {
        let suite = tls12_suite(suite_id).unwrap();
        let keys = test_keys(&suite);
        let mut decrypter =
            Tls12Decrypter::new(version, &suite, test_keys(&suite), encrypt_then_mac).unwrap();
        let mut sealer = Tls12Sealer::new(version, suite, &keys, encrypt_then_mac);
        for (sequence, content) in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"", &[7u8; 100][..]]
            .into_iter()
            .enumerate()
        {
            let record = sealer.seal(content_type::APPLICATION_DATA, content);
            let plaintext = decrypter.decrypt(&record);
            assert_eq!(
                plaintext.as_deref(),
                Ok(content),
                "suite {suite_id:04x} version {version:04x} etm {encrypt_then_mac} record {sequence}"
            );
        }
    }

    #[test]
    fn tls12_records_round_trip_every_suite() {
        for suite in crate::app::tls_decrypt::suite::tls12_suite_ids() {
            let cbc = tls12_suite(suite).unwrap().mac.is_some();
            round_trip(TLS12, suite, false);
            if cbc {
                round_trip(TLS12, suite, true);
                round_trip(TLS10, suite, false);
                round_trip(TLS11, suite, true);
            }
        }
    }

    #[test]
    fn tampered_record_fails_authentication() {
        for (suite_id, encrypt_then_mac) in [
            (0xc02f, false),
            (0xcca8, false),
            (0xc013, false),
            (0xc013, true),
        ] {
            let suite = tls12_suite(suite_id).unwrap();
            let keys = test_keys(&suite);
            let mut record = Tls12Sealer::new(TLS12, suite, &keys, encrypt_then_mac).seal(
                content_type::APPLICATION_DATA,
                b"GET /secret HTTP/1.1\r\n\r\n",
            );
            let last = record.body.len() - 1;
            record.body[last] ^= 1;
            let mut decrypter =
                Tls12Decrypter::new(TLS12, &suite, test_keys(&suite), encrypt_then_mac).unwrap();
            assert_eq!(
                decrypter.decrypt(&record),
                Err(DecryptError::Authentication),
                "suite {suite_id:04x}"
            );
        }
    }

    #[test]
    fn wrong_sequence_fails_authentication() {
        let suite = tls12_suite(0xc030).unwrap();
        let keys = test_keys(&suite);
        let mut sealer = Tls12Sealer::new(TLS12, suite, &keys, false);
        sealer.sequence = 5;
        let record = sealer.seal(content_type::APPLICATION_DATA, b"data");
        let mut decrypter = Tls12Decrypter::new(TLS12, &suite, test_keys(&suite), false).unwrap();
        assert_eq!(
            decrypter.decrypt(&record),
            Err(DecryptError::Authentication)
        );
    }

    #[test]
    fn short_records_rejected_by_length() {
        let suite = tls12_suite(0xc02f).unwrap();
        let mut decrypter = Tls12Decrypter::new(TLS12, &suite, test_keys(&suite), false).unwrap();
        let record = Record {
            content_type: content_type::APPLICATION_DATA,
            version: TLS12,
            body: vec![0; 10],
        };
        assert_eq!(decrypter.decrypt(&record), Err(DecryptError::Length));

        let suite = tls12_suite(0x002f).unwrap();
        let mut decrypter = Tls12Decrypter::new(TLS12, &suite, test_keys(&suite), false).unwrap();
        let record = Record {
            content_type: content_type::APPLICATION_DATA,
            version: TLS12,
            body: vec![0; 33],
        };
        assert_eq!(decrypter.decrypt(&record), Err(DecryptError::Length));
    }

    #[test]
    fn padding_checked() {
        assert_eq!(strip_padding(&[1, 2, 3, 0]), Ok(3));
        assert_eq!(strip_padding(&[1, 2, 2, 2]), Ok(1));
        assert_eq!(
            strip_padding(&[1, 3, 2, 2]),
            Err(DecryptError::Authentication)
        );
        assert_eq!(strip_padding(&[5, 5, 5]), Err(DecryptError::Authentication));
        assert_eq!(strip_padding(&[]), Err(DecryptError::Authentication));
    }
}
