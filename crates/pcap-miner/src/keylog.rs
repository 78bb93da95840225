//! TLS session secrets from key logs, looked up by the ClientHello random.
//!
//! Two formats are read, detected from the first line that is neither blank
//! nor a `#` comment:
//!
//! - DRAKVUF's `tlsmon.log`: one JSON object per line with `client_random`
//!   (32 bytes as 64 hex digits) and `master_key` (the 48-byte TLS 1.0–1.2
//!   master secret as 96 hex digits). Other fields are optional. Lines of a
//!   variant that writes `label` and `secret` instead of `master_key` are read
//!   as the NSS line `label client_random secret`. Lines whose `Plugin` is not
//!   `tlsmon` (a whole `drakmon.log`) are skipped without a warning.
//! - The NSS key log format that `SSLKEYLOGFILE` makes browsers, curl and
//!   OpenSSL write: `LABEL <client random hex> <secret hex>` per line.
//!
//! A line that cannot be used is skipped with a [`KeyLogWarning`] naming its
//! line number; the rest of the file is still read.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Length of the ClientHello random that keys every entry.
pub const CLIENT_RANDOM_LEN: usize = 32;

/// Length of a TLS 1.0–1.2 master secret.
pub const MASTER_SECRET_LEN: usize = 48;

/// Warnings kept per key log; later bad lines are only counted.
pub const MAX_WARNINGS: usize = 100;

/// Warnings also emitted as `tracing` events; later ones are summed up in one event.
const MAX_WARNING_EVENTS: usize = 10;

/// A ClientHello random.
pub type ClientRandom = [u8; CLIENT_RANDOM_LEN];

/// A key log file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLogError {
    #[error("cannot read key log {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A key log line that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLogWarning {
    /// Line number, counted from 1.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for KeyLogWarning {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.message)
    }
}

/// The format of a key log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLogFormat {
    /// DRAKVUF tlsmon JSON lines.
    Tlsmon,
    /// NSS key log lines (`SSLKEYLOGFILE`); also the format of an empty file.
    Nss,
}

/// TLS 1.3 traffic secrets of one session, each as long as the suite's hash output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tls13Secrets {
    /// `CLIENT_EARLY_TRAFFIC_SECRET`, protecting 0-RTT data.
    pub client_early: Option<Vec<u8>>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// `CLIENT_TRAFFIC_SECRET_0`, the first client application traffic secret.
    pub client_application: Option<Vec<u8>>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_application: Option<Vec<u8>>,
}

impl fmt::Debug for Tls13Secrets {
    // Secrets are never printed: only which ones are present.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Tls13Secrets")
            .field("client_early", &self.client_early.is_some())
            .field("client_handshake", &self.client_handshake.is_some())
            .field("server_handshake", &self.server_handshake.is_some())
            .field("client_application", &self.client_application.is_some())
            .field("server_application", &self.server_application.is_some())
            .finish()
    }
}

/// Session secrets by client random.
#[derive(Clone, Default)]
pub struct KeyLog {
    master_secrets: HashMap<ClientRandom, [u8; MASTER_SECRET_LEN]>,
    tls13: HashMap<ClientRandom, Tls13Secrets>,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("KeyLog")
            .field("master_secrets", &self.master_secrets.len())
            .field("tls13_sessions", &self.tls13.len())
            .finish()
    }
}

/// A key log read from text, with the lines that were skipped.
#[derive(Debug, Clone)]
pub struct ParsedKeyLog {
    pub key_log: KeyLog,
    pub format: KeyLogFormat,
    /// The first [`MAX_WARNINGS`] skipped lines.
    pub warnings: Vec<KeyLogWarning>,
    /// All skipped lines, including those past [`MAX_WARNINGS`].
    pub skipped_lines: usize,
}

/// The TLS 1.3 labels of the NSS format that decryption uses.
const TLS13_LABELS: [&str; 5] = [
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
];

/// NSS labels that are valid but not needed to read client requests. OpenSSL
/// writes an `RSA` pre-master secret line next to the `CLIENT_RANDOM` line of
/// every session with RSA key exchange; the master secret is enough.
const UNUSED_LABELS: [&str; 3] = ["EXPORTER_SECRET", "EARLY_EXPORTER_SECRET", "RSA"];

impl KeyLog {
    /// Reads a key log file in either format.
    pub fn from_file(path: &Path) -> Result<ParsedKeyLog, KeyLogError> {
        let bytes = std::fs::read(path).map_err(|source| KeyLogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Parses key log text in either format; bad lines become warnings.
    pub fn parse(text: &str) -> ParsedKeyLog {
        let format = detect_format(text);
        let mut parsed = ParsedKeyLog {
            key_log: KeyLog::default(),
            format,
            warnings: Vec::new(),
            skipped_lines: 0,
        };

        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let result = match format {
                KeyLogFormat::Tlsmon => parsed.key_log.add_tlsmon_line(line),
                KeyLogFormat::Nss => parsed.key_log.add_nss_line(line),
            };
            if let Err(message) = result {
                parsed.skip_line(index + 1, message);
            }
        }

        if parsed.skipped_lines > MAX_WARNING_EVENTS {
            tracing::warn!(
                skipped_lines = parsed.skipped_lines,
                "key log lines skipped; only the first {MAX_WARNING_EVENTS} were reported one by one"
            );
        }
        parsed
    }

    /// Returns the master secret logged for a TLS 1.0–1.2 session.
    pub fn master_secret(&self, client_random: &[u8]) -> Option<&[u8; MASTER_SECRET_LEN]> {
        let key: &ClientRandom = client_random.try_into().ok()?;
        self.master_secrets.get(key)
    }

    /// Returns the TLS 1.3 secrets logged for a session.
    pub fn tls13_secrets(&self, client_random: &[u8]) -> Option<&Tls13Secrets> {
        let key: &ClientRandom = client_random.try_into().ok()?;
        self.tls13.get(key)
    }

    /// Returns true when any secret is logged for this client random.
    pub fn contains(&self, client_random: &[u8]) -> bool {
        self.master_secret(client_random).is_some() || self.tls13_secrets(client_random).is_some()
    }

    /// Returns the number of sessions with a secret.
    pub fn session_count(&self) -> usize {
        let tls13_only = self
            .tls13
            .keys()
            .filter(|random| !self.master_secrets.contains_key(*random))
            .count();
        self.master_secrets.len() + tls13_only
    }

    /// Returns true when no secret was read.
    pub fn is_empty(&self) -> bool {
        self.master_secrets.is_empty() && self.tls13.is_empty()
    }

    /// Adds the master secret of a TLS 1.0–1.2 session; a later entry for the same random replaces it.
    pub fn insert_master_secret(
        &mut self,
        client_random: ClientRandom,
        master_secret: [u8; MASTER_SECRET_LEN],
    ) {
        self.master_secrets.insert(client_random, master_secret);
    }

    /// Adds one NSS-labelled secret; returns an error message for a label or secret that cannot be used.
    pub fn insert_secret(
        &mut self,
        label: &str,
        client_random: ClientRandom,
        secret: Vec<u8>,
    ) -> Result<(), String> {
        if label == "CLIENT_RANDOM" {
            let master_secret: [u8; MASTER_SECRET_LEN] =
                secret.as_slice().try_into().map_err(|_| {
                    format!(
                        "CLIENT_RANDOM secret has {} bytes, expected {MASTER_SECRET_LEN}",
                        secret.len()
                    )
                })?;
            self.insert_master_secret(client_random, master_secret);
            return Ok(());
        }
        if is_unused_label(label) {
            return Ok(());
        }
        if !TLS13_LABELS.contains(&label) {
            return Err(format!(
                "unsupported label {label:?}: expected CLIENT_RANDOM or a TLS 1.3 traffic secret label"
            ));
        }
        if !matches!(secret.len(), 32 | 48) {
            return Err(format!(
                "{label} secret has {} bytes, expected 32 (SHA-256 suites) or 48 (SHA-384)",
                secret.len()
            ));
        }

        let secrets = self.tls13.entry(client_random).or_default();
        let slot = match label {
            "CLIENT_EARLY_TRAFFIC_SECRET" => &mut secrets.client_early,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut secrets.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut secrets.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut secrets.client_application,
            _ => &mut secrets.server_application,
        };
        *slot = Some(secret);
        Ok(())
    }

    /// Reads one NSS line: `LABEL <client random hex> <secret hex>`.
    fn add_nss_line(&mut self, line: &str) -> Result<(), String> {
        let mut fields = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("expected three fields: LABEL CLIENT_RANDOM SECRET".to_string());
        };
        if is_unused_label(label) {
            return Ok(());
        }
        let client_random = parse_client_random(random)?;
        let secret = decode_hex(secret).ok_or_else(|| "secret is not hex".to_string())?;
        self.insert_secret(label, client_random, secret)
    }

    /// Reads one tlsmon JSON line.
    fn add_tlsmon_line(&mut self, line: &str) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|error| format!("invalid JSON: {error}"))?;
        let Some(object) = value.as_object() else {
            return Err("expected a JSON object".to_string());
        };
        if let Some(plugin) = object.get("Plugin").and_then(|plugin| plugin.as_str()) {
            if !plugin.eq_ignore_ascii_case("tlsmon") {
                return Ok(());
            }
        }

        let text_field = |name: &str| object.get(name).and_then(|value| value.as_str());
        let random = text_field("client_random").ok_or("missing client_random")?;
        let client_random = parse_client_random(random)?;

        if let Some(master_key) = text_field("master_key") {
            let secret = decode_hex(master_key).ok_or("master_key is not hex")?;
            let master_secret: [u8; MASTER_SECRET_LEN] =
                secret.as_slice().try_into().map_err(|_| {
                    format!(
                        "master_key has {} bytes, expected {MASTER_SECRET_LEN}",
                        secret.len()
                    )
                })?;
            self.insert_master_secret(client_random, master_secret);
            return Ok(());
        }
        match (text_field("label"), text_field("secret")) {
            (Some(label), Some(secret)) => {
                let secret = decode_hex(secret).ok_or("secret is not hex")?;
                self.insert_secret(label, client_random, secret)
            }
            _ => Err("missing master_key (or label and secret)".to_string()),
        }
    }
}

impl ParsedKeyLog {
    fn skip_line(&mut self, line: usize, message: String) {
        if self.skipped_lines < MAX_WARNING_EVENTS {
            tracing::warn!(line, reason = %message, "key log line skipped");
        }
        self.skipped_lines += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(KeyLogWarning { line, message });
        }
    }
}

/// Returns true for labels that are valid but not needed, and for the secrets
/// after a TLS 1.3 KeyUpdate: OpenSSL 3.0 writes them as `CLIENT_TRAFFIC_SECRET_N`,
/// and decryption derives them from secret 0 itself.
fn is_unused_label(label: &str) -> bool {
    if UNUSED_LABELS.contains(&label) {
        return true;
    }
    ["CLIENT_TRAFFIC_SECRET_", "SERVER_TRAFFIC_SECRET_"]
        .iter()
        .filter_map(|prefix| label.strip_prefix(prefix))
        .any(|generation| generation != "0")
}

/// JSON lines make a tlsmon log; anything else, and an empty file, is read as NSS.
fn detect_format(text: &str) -> KeyLogFormat {
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'));
    match first {
        Some(line) if line.starts_with('{') => KeyLogFormat::Tlsmon,
        _ => KeyLogFormat::Nss,
    }
}

fn parse_client_random(text: &str) -> Result<ClientRandom, String> {
    let bytes = decode_hex(text).ok_or("client random is not hex")?;
    bytes.as_slice().try_into().map_err(|_| {
        format!(
            "client random has {} bytes, expected {CLIENT_RANDOM_LEN}",
            bytes.len()
        )
    })
}

/// Decodes hex digits of either case; `None` for an odd length or another character.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high << 4 | low).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM_A: &str = "4d98940fb40a244b48e42eac287144b1b7393057caa131f961a78e38b0e77c1e";
    const RANDOM_B: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn master(byte: u8) -> String {
        format!("{byte:02x}").repeat(MASTER_SECRET_LEN)
    }

    fn random(text: &str) -> Vec<u8> {
        decode_hex(text).unwrap()
    }

    #[test]
    fn nss_client_random_line_read() {
        let text = format!(
            "# SSL/TLS secrets log file\n\nCLIENT_RANDOM {RANDOM_A} {}\n",
            master(0xab)
        );
        let parsed = KeyLog::parse(&text);

        assert_eq!(parsed.format, KeyLogFormat::Nss);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert_eq!(
            parsed.key_log.master_secret(&random(RANDOM_A)),
            Some(&[0xab; MASTER_SECRET_LEN])
        );
        assert_eq!(parsed.key_log.session_count(), 1);
    }

    #[test]
    fn nss_tls13_labels_read() {
        let secret = "11".repeat(48);
        let text = [
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "EXPORTER_SECRET",
            "SERVER_TRAFFIC_SECRET_0",
            "CLIENT_TRAFFIC_SECRET_0",
            "CLIENT_EARLY_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_N",
            "SERVER_TRAFFIC_SECRET_1",
        ]
        .map(|label| format!("{label} {RANDOM_B} {secret}\n"))
        .concat();
        let parsed = KeyLog::parse(&text);

        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let secrets = parsed.key_log.tls13_secrets(&random(RANDOM_B)).unwrap();
        assert_eq!(secrets.client_handshake.as_deref(), Some(&[0x11; 48][..]));
        assert!(secrets.server_handshake.is_some());
        assert!(secrets.client_application.is_some());
        assert!(secrets.server_application.is_some());
        assert!(secrets.client_early.is_some());
        assert!(parsed.key_log.master_secret(&random(RANDOM_B)).is_none());
        assert!(parsed.key_log.contains(&random(RANDOM_B)));
    }

    #[test]
    fn nss_bad_lines_warned_by_number() {
        let text = format!(
            "CLIENT_RANDOM {RANDOM_A}\nCLIENT_RANDOM {RANDOM_A} abc\nCLIENT_RANDOM 0102 {m}\nBOGUS_LABEL {RANDOM_A} {m}\nCLIENT_RANDOM {RANDOM_A} {short}\nCLIENT_TRAFFIC_SECRET_0 {RANDOM_A} {short}\nRSA 0102030405060708 {m}\nCLIENT_RANDOM {RANDOM_B} {m}\n",
            m = master(1),
            short = "22".repeat(20),
        );
        let parsed = KeyLog::parse(&text);

        let lines: Vec<usize> = parsed.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6]);
        assert_eq!(parsed.skipped_lines, 6);
        assert!(parsed.warnings[1].message.contains("not hex"));
        assert!(parsed.warnings[2].message.contains("2 bytes, expected 32"));
        assert!(parsed.warnings[3].message.contains("BOGUS_LABEL"));
        assert!(parsed.warnings[4].message.contains("20 bytes, expected 48"));
        assert_eq!(parsed.key_log.session_count(), 1);
        assert!(parsed.key_log.master_secret(&random(RANDOM_B)).is_some());
    }

    #[test]
    fn tlsmon_lines_read() {
        let text = format!(
            concat!(
                r#"{{"Plugin": "tlsmon", "TimeStamp": "1700000000.123456", "PID": 636, "#,
                r#""ProcessName": "C:\\Windows\\system32\\lsass.exe", "Method": "SslGenerateSessionKeys", "#,
                r#""client_random": "{a}", "master_key": "{m}"}}"#,
                "\n",
                r#"{{"client_random": "{b}", "master_key": "{n}"}}"#,
                "\n"
            ),
            a = RANDOM_A,
            m = master(0x5a),
            b = RANDOM_B.to_uppercase(),
            n = master(0x01),
        );
        let parsed = KeyLog::parse(&text);

        assert_eq!(parsed.format, KeyLogFormat::Tlsmon);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert_eq!(
            parsed.key_log.master_secret(&random(RANDOM_A)),
            Some(&[0x5a; MASTER_SECRET_LEN])
        );
        assert_eq!(
            parsed.key_log.master_secret(&random(RANDOM_B)),
            Some(&[0x01; MASTER_SECRET_LEN])
        );
    }

    #[test]
    fn tlsmon_bad_lines_warned_by_number() {
        let text = format!(
            concat!(
                r#"{{"Plugin": "tlsmon", "client_random": "{a}", "master_key": "{m}"}}"#,
                "\n",
                "not json\n",
                "[1, 2]\n",
                r#"{{"Plugin": "tlsmon", "master_key": "{m}"}}"#,
                "\n",
                r#"{{"client_random": "{a}"}}"#,
                "\n",
                r#"{{"client_random": "{a}", "master_key": "zz"}}"#,
                "\n",
                r#"{{"client_random": "{a}", "master_key": "{short}"}}"#,
                "\n",
                r#"{{"Plugin": "procmon", "Method": "NtCreateFile"}}"#,
                "\n",
                r#"{{"client_random": "{b}", "label": "CLIENT_TRAFFIC_SECRET_0", "secret": "{s}"}}"#,
                "\n",
            ),
            a = RANDOM_A,
            b = RANDOM_B,
            m = master(7),
            short = "07".repeat(47),
            s = "33".repeat(32),
        );
        let parsed = KeyLog::parse(&text);

        let lines: Vec<usize> = parsed.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
        assert!(parsed.warnings[0].message.starts_with("invalid JSON"));
        assert!(parsed.warnings[2].message.contains("client_random"));
        assert!(parsed.warnings[3].message.contains("master_key"));
        assert!(parsed.warnings[4].message.contains("not hex"));
        assert_eq!(
            parsed.warnings[5].message,
            "master_key has 47 bytes, expected 48"
        );
        assert!(parsed.key_log.master_secret(&random(RANDOM_A)).is_some());
        let secrets = parsed.key_log.tls13_secrets(&random(RANDOM_B)).unwrap();
        assert_eq!(secrets.client_application.as_deref(), Some(&[0x33; 32][..]));
    }

    #[test]
    fn warnings_capped_but_counted() {
        let text = "bad line\n".repeat(MAX_WARNINGS + 5);
        let parsed = KeyLog::parse(&text);

        assert_eq!(parsed.warnings.len(), MAX_WARNINGS);
        assert_eq!(parsed.skipped_lines, MAX_WARNINGS + 5);
        assert!(parsed.key_log.is_empty());
    }

    #[test]
    fn empty_file_is_nss_and_empty() {
        let parsed = KeyLog::parse("");

        assert_eq!(parsed.format, KeyLogFormat::Nss);
        assert!(parsed.key_log.is_empty());
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!("CLIENT_RANDOM {RANDOM_A} {}\n", master(0xab));
        let printed = format!("{:?}", KeyLog::parse(&text).key_log);

        assert!(!printed.contains("ab"), "{printed}");
        assert!(printed.contains("master_secrets: 1"), "{printed}");
    }

    #[test]
    fn missing_file_error_names_path() {
        let error = KeyLog::from_file(Path::new("/nonexistent/keys.log")).unwrap_err();

        assert!(
            error.to_string().contains("/nonexistent/keys.log"),
            "{error}"
        );
    }

    #[test]
    fn wrong_random_length_not_found() {
        let text = format!("CLIENT_RANDOM {RANDOM_A} {}\n", master(1));
        let key_log = KeyLog::parse(&text).key_log;

        assert!(key_log.master_secret(&[0; 31]).is_none());
        assert!(!key_log.contains(&[0; 33]));
    }
}
