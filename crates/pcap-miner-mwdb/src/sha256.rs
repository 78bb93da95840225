//! The sample identifier: a SHA-256 digest in lower-case hex.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256 as Hasher};

use crate::MwdbError;

/// SHA-256 digest of a sample, as 64 lower-case hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(String);

impl Sha256 {
    /// Parses 64 hexadecimal digits in either case.
    pub fn parse(value: &str) -> Result<Self, MwdbError> {
        let trimmed = value.trim();
        if trimmed.len() != 64 || !trimmed.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(MwdbError::InvalidSha256 {
                value: value.to_string(),
            });
        }
        Ok(Sha256(trimmed.to_ascii_lowercase()))
    }

    /// Computes the digest of bytes in memory.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Sha256(to_hex(&Hasher::digest(bytes)))
    }

    /// Computes the digest of a file, reading it in blocks.
    pub fn of_file(path: &Path) -> Result<Self, MwdbError> {
        let read_error = |source| MwdbError::ReadFile {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let mut hasher = Hasher::new();
        let mut block = vec![0u8; 64 * 1024];
        loop {
            let count = file.read(&mut block).map_err(read_error)?;
            if count == 0 {
                break;
            }
            hasher.update(&block[..count]);
        }
        Ok(Sha256(to_hex(&hasher.finalize())))
    }

    /// Returns the 64 lower-case hexadecimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for Sha256 {
    type Err = MwdbError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Sha256::parse(value)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_parse_lowercases() {
        let parsed = Sha256::parse(&EMPTY.to_ascii_uppercase()).unwrap();
        assert_eq!(parsed.as_str(), EMPTY);
    }

    #[test]
    fn sha256_parse_rejects_bad_input() {
        for value in [
            "",
            "abc",
            &EMPTY[1..],
            &format!("{EMPTY}0"),
            &EMPTY.replace('e', "g"),
        ] {
            assert!(Sha256::parse(value).is_err(), "{value:?} was accepted");
        }
    }

    #[test]
    fn sha256_of_bytes_known_digest() {
        assert_eq!(Sha256::of_bytes(b"").as_str(), EMPTY);
        assert_eq!(
            Sha256::of_bytes(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_of_file_matches_bytes() {
        let path = std::env::temp_dir().join(format!("pcap-miner-mwdb-sha-{}", std::process::id()));
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let from_file = Sha256::of_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_file, Sha256::of_bytes(&content));
    }
}
