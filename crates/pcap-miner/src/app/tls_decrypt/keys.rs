//! Key schedules: the TLS 1.0–1.2 PRF and key block, and the TLS 1.3
//! `HKDF-Expand-Label` that QUIC uses too.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::suite::{Hash, Suite};

/// Protocol version numbers as the ServerHello carries them.
pub(crate) const TLS10: u16 = 0x0301;
pub(crate) const TLS11: u16 = 0x0302;
pub(crate) const TLS12: u16 = 0x0303;
pub(crate) const TLS13: u16 = 0x0304;

/// Keys of one direction of a TLS 1.0–1.2 session, cut from the key block.
pub(crate) struct DirectionKeys {
    pub mac_key: Vec<u8>,
    pub key: Vec<u8>,
    pub iv: Vec<u8>,
}

/// Derives the client-to-server keys from the master secret (RFC 5246 section 6.3).
///
/// The key block is `mac_c, mac_s, key_c, key_s, iv_c, iv_s`. IV bytes are
/// derived for every suite: TLS 1.1 and 1.2 CBC records carry their own IV and
/// ignore them, and the client's keys come before them either way.
pub(crate) fn client_keys(
    version: u16,
    suite: &Suite,
    master_secret: &[u8],
    client_random: &[u8],
    server_random: &[u8],
) -> DirectionKeys {
    let mac_len = suite.mac.map_or(0, Hash::len);
    let key_len = suite.bulk.key_len();
    let iv_len = suite.bulk.key_block_iv_len();
    let mut block = vec![0; 2 * (mac_len + key_len + iv_len)];

    let mut seed = Vec::with_capacity(server_random.len() + client_random.len());
    seed.extend_from_slice(server_random);
    seed.extend_from_slice(client_random);
    prf(
        version,
        suite.hash,
        master_secret,
        b"key expansion",
        &seed,
        &mut block,
    );

    let key_start = 2 * mac_len;
    let iv_start = key_start + 2 * key_len;
    DirectionKeys {
        mac_key: block[..mac_len].to_vec(),
        key: block[key_start..key_start + key_len].to_vec(),
        iv: block[iv_start..iv_start + iv_len].to_vec(),
    }
}

/// Fills `out` with the PRF of the version: P_MD5 XOR P_SHA1 before TLS 1.2,
/// P_hash of the suite's hash from TLS 1.2 on.
pub(crate) fn prf(
    version: u16,
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out: &mut [u8],
) {
    let mut label_seed = Vec::with_capacity(label.len() + seed.len());
    label_seed.extend_from_slice(label);
    label_seed.extend_from_slice(seed);

    if version < TLS12 {
        // RFC 2246 section 5: each half of the secret keys one hash, and the
        // halves share the middle byte when the length is odd.
        let half = secret.len().div_ceil(2);
        let (first, second) = (&secret[..half], &secret[secret.len() - half..]);
        p_hash::<Hmac<Md5>>(first, &label_seed, out);
        let mut sha1_part = vec![0; out.len()];
        p_hash::<Hmac<Sha1>>(second, &label_seed, &mut sha1_part);
        for (byte, mask) in out.iter_mut().zip(sha1_part) {
            *byte ^= mask;
        }
        return;
    }
    match hash {
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, &label_seed, out),
        Hash::Sha256 | Hash::Sha1 => p_hash::<Hmac<Sha256>>(secret, &label_seed, out),
    }
}

/// P_hash of RFC 5246 section 5: HMAC(secret, A(i) + seed) for A(1), A(2), …
fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(secret: &[u8], seed: &[u8], out: &mut [u8]) {
    // HMAC takes a key of any length, so this never fails.
    let Ok(keyed) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
        return;
    };
    let mut a = keyed.clone().chain_update(seed).finalize().into_bytes();
    for chunk in out.chunks_mut(a.len()) {
        let block = keyed
            .clone()
            .chain_update(&a)
            .chain_update(seed)
            .finalize()
            .into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
        a = keyed.clone().chain_update(&a).finalize().into_bytes();
    }
}

/// Returns `HKDF-Expand-Label(secret, label, context, len)` of RFC 8446
/// section 7.1, with the `tls13 ` prefix added to `label`.
///
/// Returns `None` when the secret is shorter than the hash output or `len`
/// is out of HKDF's range.
pub(crate) fn hkdf_expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let full_label_len = u8::try_from(6 + label.len()).ok()?;
    let context_len = u8::try_from(context.len()).ok()?;
    let mut info = Vec::with_capacity(4 + label.len() + 6 + context.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(full_label_len);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(context_len);
    info.extend_from_slice(context);

    let mut out = vec![0; len];
    let expanded = match hash {
        Hash::Sha256 => Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out),
        Hash::Sha384 => Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out),
        Hash::Sha1 => return None,
    };
    expanded.ok()?;
    Some(out)
}

/// Returns `HKDF-Extract(salt, input)` with SHA-256, the pseudorandom key.
pub(crate) fn hkdf_extract_sha256(salt: &[u8], input: &[u8]) -> Vec<u8> {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), input);
    prk.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tls_decrypt::suite::{tls12_suite, Bulk};

    pub(crate) fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
    const SEED: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

    // Expected outputs from OpenSSL 3.0.19:
    // openssl kdf -keylen 100 -kdfopt digest:D -kdfopt hexsecret:SECRET
    //   -kdfopt seed:"key expansion" -kdfopt hexseed:SEED TLS1-PRF
    const PRF_SHA256: &str = "0a5497e5a4130efd46c33d54d17f639fb535f43910fba8518f525e4b117813955f2ceb96fce1532a6e8f10fd4f050794d5bab37aa6b5d3027158ce5a34e0969413b410821dc4b751c4008ba73e62aa5c2bf64d98ed2eb167caaaf74a3a6be728aa9021ff";
    const PRF_SHA384: &str = "0e65b4c0bd809f4709e1f2fa0ab75e2cdac577e6afe7953312af9f8928ddbf734b53f9de379f826f6029af8c808e34dd5d08174ff77c1c6014d2dbdb36ce6bac9cd04defabb891a181d12a949dbcf7131c2c931167dcaa4d1b976f03e90a3ebf563babad";
    const PRF_MD5_SHA1: &str = "dcff6ed3a1b3b8fa78feb1eda8f219d5a18d67347348dd20539caa5ff7b0ab8aac1627f38f429e3addda93a64191603414cbe2631febfd259b40d593be6427fdda628b190156b5f8ce2fc4f3c11c5260de4ee33fde4f067d82ebd9bce8a1062bf8f6361b";

    fn run_prf(version: u16, hash: Hash) -> Vec<u8> {
        let mut out = vec![0; 100];
        prf(
            version,
            hash,
            &hex(SECRET),
            b"key expansion",
            &hex(SEED),
            &mut out,
        );
        out
    }

    #[test]
    fn prf_matches_openssl() {
        assert_eq!(run_prf(TLS12, Hash::Sha256), hex(PRF_SHA256));
        assert_eq!(run_prf(TLS12, Hash::Sha384), hex(PRF_SHA384));
        assert_eq!(run_prf(TLS10, Hash::Sha256), hex(PRF_MD5_SHA1));
        assert_eq!(run_prf(TLS11, Hash::Sha1), hex(PRF_MD5_SHA1));
    }

    #[test]
    fn client_keys_cut_from_key_block() {
        // The seed is server random then client random, so the halves of SEED play those roles.
        let seed = hex(SEED);
        let (server_random, client_random) = seed.split_at(16);
        let block = hex(PRF_SHA256);

        let gcm = tls12_suite(0xc02f).unwrap();
        let keys = client_keys(TLS12, &gcm, &hex(SECRET), client_random, server_random);
        assert!(keys.mac_key.is_empty());
        assert_eq!(keys.key, block[..16]);
        assert_eq!(keys.iv, block[32..36]);

        let cbc = tls12_suite(0xc013).unwrap();
        assert_eq!(cbc.bulk, Bulk::Aes128Cbc);
        let keys = client_keys(TLS12, &cbc, &hex(SECRET), client_random, server_random);
        assert_eq!(keys.mac_key, block[..20]);
        assert_eq!(keys.key, block[40..56]);
        assert_eq!(keys.iv, block[72..88]);
    }

    #[test]
    fn expand_label_matches_rfc9001_initial_keys() {
        // RFC 9001 appendix A.1: client Initial secret and keys for DCID 8394c8f03e515708.
        let salt = hex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
        let initial = hkdf_extract_sha256(&salt, &hex("8394c8f03e515708"));
        let client = hkdf_expand_label(Hash::Sha256, &initial, b"client in", b"", 32).unwrap();
        assert_eq!(
            client,
            hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
        let key = hkdf_expand_label(Hash::Sha256, &client, b"quic key", b"", 16).unwrap();
        assert_eq!(key, hex("1f369613dd76d5467730efcbe3b1a22d"));
        let iv = hkdf_expand_label(Hash::Sha256, &client, b"quic iv", b"", 12).unwrap();
        assert_eq!(iv, hex("fa044b2f42a3fd3b46fb255c"));
        let hp = hkdf_expand_label(Hash::Sha256, &client, b"quic hp", b"", 16).unwrap();
        assert_eq!(hp, hex("9f50449e04a0e810283a1e9933adedd2"));
    }

    #[test]
    fn expand_label_rejects_short_secret() {
        assert!(hkdf_expand_label(Hash::Sha384, &[0; 32], b"key", b"", 16).is_none());
        assert!(hkdf_expand_label(Hash::Sha1, &[0; 32], b"key", b"", 16).is_none());
    }
}
