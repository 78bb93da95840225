//! Decryption of TLS sessions whose secrets are in a key log, so that the
//! HTTP requests inside them can be read.
//!
//! A [`TlsSession`] reads both directions of one connection from the
//! ClientHello on. The ClientHello gives the client random that keys the
//! secrets; the ServerHello gives the server random, the cipher suite, the
//! version and the encrypt-then-MAC choice. From then on only the client's
//! records are decrypted, because requests travel from client to server:
//!
//! - TLS 1.0–1.2: keys from the master secret and both randoms; records after
//!   the client's ChangeCipherSpec are decrypted, numbered from 0. Resumed
//!   sessions work the same way when the key log has their client random.
//! - TLS 1.3: records are decrypted with the client handshake traffic secret
//!   until the client's Finished, then with the application traffic secret,
//!   which a KeyUpdate replaces. 0-RTT records use the early traffic secret.
//!
//! A record that fails authentication is counted and ends decryption of the
//! session: nothing after it is guessed at.

mod cipher;
mod hello;
mod keys;
mod record;
mod suite;

use std::collections::VecDeque;
use std::sync::Arc;

use cipher::{Tls12Decrypter, Tls13Decrypter};
use hello::{ClientHelloInfo, ServerHello};
use record::{content_type, handshake_types, HandshakeJoiner, Record, RecordReader};
use suite::Suite;

pub(crate) use cipher::{sequence_nonce, Aead};
pub(crate) use keys::{hkdf_expand_label, hkdf_extract_sha256};
pub(crate) use suite::{Bulk, Hash};

use crate::keylog::{KeyLog, Tls13Secrets};

/// Client records held at most while the ServerHello has not been read, in bytes.
pub const MAX_QUEUED_CLIENT_BYTES: usize = 256 << 10;

const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
const HANDSHAKE_END_OF_EARLY_DATA: u8 = 5;
const HANDSHAKE_FINISHED: u8 = 20;
const HANDSHAKE_KEY_UPDATE: u8 = 24;

/// Counters of TLS decryption, under stable names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsDecryptStats {
    /// ClientHellos whose client random is in the key log.
    pub sessions_with_keys: u64,
    /// ClientHellos whose client random is not in the key log (counted only when a key log is set).
    pub sessions_without_keys: u64,
    /// Sessions with keys that could not be followed: an unsupported version or
    /// cipher suite, secrets of the wrong kind, a ServerHello never seen, a
    /// stream gap or a renegotiation.
    pub sessions_not_followed: u64,
    /// Client records decrypted.
    pub records_decrypted: u64,
    /// Client records that failed authentication; each leaves the rest of its session encrypted.
    pub records_failed: u64,
}

impl TlsDecryptStats {
    /// Adds the counters of another part of the run, such as another worker's.
    pub fn add(&mut self, other: &TlsDecryptStats) {
        self.sessions_with_keys += other.sessions_with_keys;
        self.sessions_without_keys += other.sessions_without_keys;
        self.sessions_not_followed += other.sessions_not_followed;
        self.records_decrypted += other.records_decrypted;
        self.records_failed += other.records_failed;
    }
}

/// Progress of the session through the handshake.
enum Phase {
    /// Reading the ClientHello.
    ClientHello,
    /// The key log has the session; client records queue until the ServerHello.
    AwaitServerHello(ClientHelloInfo),
    /// Decrypting the client's records.
    Decrypting(Box<ClientRecords>),
    /// Nothing more is read.
    Stopped,
}

/// The reason reading stopped.
enum Stop {
    /// Nothing to count: no keys (already counted), not TLS, or a handshake the server refused.
    Quiet,
    /// A session with keys that cannot be followed.
    NotFollowed(String),
    /// A record failed authentication (already counted).
    Failed,
}

/// Decrypts the client records of one TLS connection whose secrets are in a key log.
pub struct TlsSession {
    key_log: Arc<KeyLog>,
    phase: Phase,
    client_reader: RecordReader,
    server_reader: RecordReader,
    client_joiner: HandshakeJoiner,
    server_joiner: HandshakeJoiner,
    queued: VecDeque<Record>,
    queued_bytes: usize,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::ClientHello => "client hello",
            Phase::AwaitServerHello(_) => "await server hello",
            Phase::Decrypting(_) => "decrypting",
            Phase::Stopped => "stopped",
        };
        formatter
            .debug_struct("TlsSession")
            .field("phase", &phase)
            .field("queued_bytes", &self.queued_bytes)
            .finish()
    }
}

impl TlsSession {
    /// Creates a session that starts reading at the first byte of a ClientHello record.
    pub fn new(key_log: Arc<KeyLog>) -> Self {
        TlsSession {
            key_log,
            phase: Phase::ClientHello,
            client_reader: RecordReader::default(),
            server_reader: RecordReader::default(),
            client_joiner: HandshakeJoiner::default(),
            server_joiner: HandshakeJoiner::default(),
            queued: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// Returns false once nothing more will be decrypted.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Stopped)
    }

    /// Returns true while the ServerHello is needed.
    pub fn wants_server_data(&self) -> bool {
        matches!(self.phase, Phase::AwaitServerHello(_))
    }

    /// Reads client-to-server bytes; returns the application data decrypted from them, one chunk per record.
    pub fn client_data(&mut self, data: &[u8], stats: &mut TlsDecryptStats) -> Vec<Vec<u8>> {
        let mut plaintext = Vec::new();
        if !self.is_active() {
            return plaintext;
        }
        let mut records = VecDeque::new();
        let framing = self.client_reader.push(data, &mut records);
        for record in records {
            if let Err(stop) = self.client_record(record, stats, &mut plaintext) {
                self.stop(stop, stats);
                return plaintext;
            }
        }
        if let Err(error) = framing {
            let stop = self.stop_unless_quiet(format!("client stream: {error}"));
            self.stop(stop, stats);
        }
        plaintext
    }

    /// Reads server-to-client bytes while the ServerHello is needed; returns
    /// the application data of client records that waited for it.
    pub fn server_data(&mut self, data: &[u8], stats: &mut TlsDecryptStats) -> Vec<Vec<u8>> {
        let mut plaintext = Vec::new();
        if !self.wants_server_data() {
            return plaintext;
        }
        let mut records = VecDeque::new();
        let framing = self.server_reader.push(data, &mut records);
        for record in records {
            let result = self.server_record(&record, stats, &mut plaintext);
            if let Err(stop) = result {
                self.stop(stop, stats);
                return plaintext;
            }
            if !self.wants_server_data() {
                return plaintext;
            }
        }
        if let Err(error) = framing {
            self.stop(Stop::NotFollowed(format!("server stream: {error}")), stats);
        }
        plaintext
    }

    /// Learns of bytes missing from the client stream, which ends decryption.
    pub fn client_gap(&mut self, stats: &mut TlsDecryptStats) {
        let stop = self.stop_unless_quiet("gap in the client stream".to_string());
        self.stop(stop, stats);
    }

    /// Learns of bytes missing from the server stream, which ends decryption while the ServerHello is needed.
    pub fn server_gap(&mut self, stats: &mut TlsDecryptStats) {
        if self.wants_server_data() {
            self.stop(
                Stop::NotFollowed("gap in the server stream before the ServerHello".to_string()),
                stats,
            );
        }
    }

    /// Ends the session at the end of the connection.
    pub fn finish(&mut self, stats: &mut TlsDecryptStats) {
        let stop = if self.wants_server_data() && !self.queued.is_empty() {
            Stop::NotFollowed("client records sent, but no ServerHello seen".to_string())
        } else {
            Stop::Quiet
        };
        self.stop(stop, stats);
    }

    /// Returns a stop that is counted only once the key log had the session.
    fn stop_unless_quiet(&self, reason: String) -> Stop {
        match self.phase {
            Phase::AwaitServerHello(_) | Phase::Decrypting(_) => Stop::NotFollowed(reason),
            Phase::ClientHello | Phase::Stopped => Stop::Quiet,
        }
    }

    fn stop(&mut self, stop: Stop, stats: &mut TlsDecryptStats) {
        if !self.is_active() {
            return;
        }
        match stop {
            Stop::Quiet => {}
            Stop::NotFollowed(reason) => {
                stats.sessions_not_followed += 1;
                tracing::debug!(%reason, "TLS session not followed");
            }
            Stop::Failed => {
                tracing::debug!(
                    "TLS record failed authentication; the rest of the session stays encrypted"
                );
            }
        }
        self.phase = Phase::Stopped;
        self.queued.clear();
        self.queued_bytes = 0;
        self.client_reader = RecordReader::default();
        self.server_reader = RecordReader::default();
    }

    fn client_record(
        &mut self,
        record: Record,
        stats: &mut TlsDecryptStats,
        plaintext: &mut Vec<Vec<u8>>,
    ) -> Result<(), Stop> {
        match &mut self.phase {
            Phase::ClientHello => self.read_client_hello(&record, stats),
            Phase::AwaitServerHello(_) => {
                self.queued_bytes += record.wire_len();
                if self.queued_bytes > MAX_QUEUED_CLIENT_BYTES {
                    return Err(Stop::NotFollowed(format!(
                        "more than {MAX_QUEUED_CLIENT_BYTES} bytes of client records before the ServerHello"
                    )));
                }
                self.queued.push_back(record);
                Ok(())
            }
            Phase::Decrypting(records) => records.decrypt(&record, stats, plaintext),
            Phase::Stopped => Ok(()),
        }
    }

    /// Reads the ClientHello and looks its random up in the key log.
    fn read_client_hello(
        &mut self,
        record: &Record,
        stats: &mut TlsDecryptStats,
    ) -> Result<(), Stop> {
        if record.content_type != content_type::HANDSHAKE {
            return Err(Stop::Quiet);
        }
        let messages = self
            .client_joiner
            .push(&record.body)
            .map_err(|_| Stop::Quiet)?;
        let Some(message) = messages.first() else {
            return Ok(());
        };
        if message.handshake_type != HANDSHAKE_CLIENT_HELLO {
            return Err(Stop::Quiet);
        }
        let info = hello::read_client_hello(&message.body).ok_or(Stop::Quiet)?;
        if !self.key_log.contains(&info.random) {
            stats.sessions_without_keys += 1;
            return Err(Stop::Quiet);
        }
        stats.sessions_with_keys += 1;
        self.phase = Phase::AwaitServerHello(info);
        Ok(())
    }

    fn server_record(
        &mut self,
        record: &Record,
        stats: &mut TlsDecryptStats,
        plaintext: &mut Vec<Vec<u8>>,
    ) -> Result<(), Stop> {
        match record.content_type {
            content_type::HANDSHAKE => {}
            content_type::CHANGE_CIPHER_SPEC => return Ok(()),
            // The server refused the handshake: no application data follows.
            content_type::ALERT => return Err(Stop::Quiet),
            other => {
                return Err(Stop::NotFollowed(format!(
                    "server record of type {other} before the ServerHello"
                )))
            }
        }
        let messages = self
            .server_joiner
            .push(&record.body)
            .map_err(|error| Stop::NotFollowed(format!("server handshake: {error}")))?;
        for message in messages {
            if message.handshake_type != HANDSHAKE_SERVER_HELLO {
                return Err(Stop::NotFollowed(format!(
                    "server handshake message of type {} before the ServerHello",
                    message.handshake_type
                )));
            }
            let server_hello = hello::read_server_hello(&message.body)
                .ok_or_else(|| Stop::NotFollowed("malformed ServerHello".to_string()))?;
            if server_hello.is_retry_request {
                continue;
            }
            return self.start_decrypting(&server_hello, stats, plaintext);
        }
        Ok(())
    }

    /// Sets up the client keys and decrypts the client records that waited for the ServerHello.
    fn start_decrypting(
        &mut self,
        server_hello: &ServerHello,
        stats: &mut TlsDecryptStats,
        plaintext: &mut Vec<Vec<u8>>,
    ) -> Result<(), Stop> {
        let Phase::AwaitServerHello(client_hello) = &self.phase else {
            return Ok(());
        };
        let records = ClientRecords::new(&self.key_log, client_hello, server_hello)
            .map_err(Stop::NotFollowed)?;
        self.phase = Phase::Decrypting(Box::new(records));
        self.queued_bytes = 0;
        while let Some(record) = self.queued.pop_front() {
            self.client_record(record, stats, plaintext)?;
        }
        Ok(())
    }
}

/// The client's records after the hellos, by protocol version.
enum ClientRecords {
    Tls12 {
        decrypter: Tls12Decrypter,
        /// Set by the client's ChangeCipherSpec.
        encrypting: bool,
    },
    Tls13(Tls13Client),
}

impl ClientRecords {
    fn new(
        key_log: &KeyLog,
        client_hello: &ClientHelloInfo,
        server_hello: &ServerHello,
    ) -> Result<Self, String> {
        let version = server_hello.version;
        let suite_id = server_hello.cipher_suite;
        if version == keys::TLS13 {
            let suite = suite::tls13_suite(suite_id)
                .ok_or_else(|| format!("unsupported TLS 1.3 cipher suite {suite_id:#06x}"))?;
            let secrets = key_log
                .tls13_secrets(&client_hello.random)
                .ok_or("TLS 1.3 session, but the key log has only a master secret for it")?;
            return Tls13Client::new(suite, secrets, client_hello.offers_early_data)
                .map(ClientRecords::Tls13);
        }
        if !(keys::TLS10..=keys::TLS12).contains(&version) {
            return Err(format!("unsupported protocol version {version:#06x}"));
        }

        let suite = suite::tls12_suite(suite_id)
            .filter(|suite| version == keys::TLS12 || suite.bulk.is_cbc())
            .ok_or_else(|| {
                format!("unsupported cipher suite {suite_id:#06x} for version {version:#06x}")
            })?;
        let master_secret = key_log
            .master_secret(&client_hello.random)
            .ok_or("TLS 1.0-1.2 session, but the key log has only TLS 1.3 secrets for it")?;
        let keys = keys::client_keys(
            version,
            &suite,
            master_secret,
            &client_hello.random,
            &server_hello.random,
        );
        let encrypt_then_mac = server_hello.encrypt_then_mac && suite.bulk.is_cbc();
        let decrypter = Tls12Decrypter::new(version, &suite, keys, encrypt_then_mac)
            .ok_or("keys do not fit the cipher suite")?;
        Ok(ClientRecords::Tls12 {
            decrypter,
            encrypting: false,
        })
    }

    fn decrypt(
        &mut self,
        record: &Record,
        stats: &mut TlsDecryptStats,
        plaintext: &mut Vec<Vec<u8>>,
    ) -> Result<(), Stop> {
        match self {
            ClientRecords::Tls12 {
                decrypter,
                encrypting,
            } => decrypt_tls12(decrypter, encrypting, record, stats, plaintext),
            ClientRecords::Tls13(client) => client.decrypt(record, stats, plaintext),
        }
    }
}

fn decrypt_tls12(
    decrypter: &mut Tls12Decrypter,
    encrypting: &mut bool,
    record: &Record,
    stats: &mut TlsDecryptStats,
    plaintext: &mut Vec<Vec<u8>>,
) -> Result<(), Stop> {
    if !*encrypting {
        return match record.content_type {
            content_type::CHANGE_CIPHER_SPEC => {
                *encrypting = true;
                Ok(())
            }
            content_type::APPLICATION_DATA => Err(Stop::NotFollowed(
                "client application data before its ChangeCipherSpec".to_string(),
            )),
            _ => Ok(()),
        };
    }

    let Ok(content) = decrypter.decrypt(record) else {
        stats.records_failed += 1;
        return Err(Stop::Failed);
    };
    stats.records_decrypted += 1;
    match record.content_type {
        content_type::APPLICATION_DATA if !content.is_empty() => plaintext.push(content),
        // NOTE: a renegotiation derives new keys from randoms in encrypted
        // hellos, which are not read, so the session is given up there.
        content_type::CHANGE_CIPHER_SPEC => {
            return Err(Stop::NotFollowed("renegotiation".to_string()))
        }
        content_type::HANDSHAKE if handshake_types(&content).contains(&HANDSHAKE_CLIENT_HELLO) => {
            return Err(Stop::NotFollowed("renegotiation".to_string()))
        }
        _ => {}
    }
    Ok(())
}

/// The client side of a TLS 1.3 session.
struct Tls13Client {
    suite: Suite,
    early: Option<Tls13Decrypter>,
    handshake: Option<Tls13Decrypter>,
    application: Option<Tls13Decrypter>,
    application_secret: Option<Vec<u8>>,
    /// The client's Finished was read (or an application record authenticated).
    in_application: bool,
    /// A record authenticated under the handshake secret, so early data is over.
    handshake_seen: bool,
    offers_early_data: bool,
}

impl Tls13Client {
    fn new(suite: Suite, secrets: &Tls13Secrets, offers_early_data: bool) -> Result<Self, String> {
        let usable = |secret: &Option<Vec<u8>>| {
            secret
                .as_ref()
                .filter(|secret| secret.len() == suite.hash.len())
                .cloned()
        };
        let handshake_secret = usable(&secrets.client_handshake);
        let application_secret = usable(&secrets.client_application);
        if handshake_secret.is_none() && application_secret.is_none() {
            return Err(format!(
                "the key log has no client traffic secret of {} bytes for this TLS 1.3 session",
                suite.hash.len()
            ));
        }
        Ok(Tls13Client {
            suite,
            early: usable(&secrets.client_early).and_then(|s| traffic_decrypter(&suite, &s)),
            handshake: handshake_secret.and_then(|s| traffic_decrypter(&suite, &s)),
            application: application_secret
                .as_ref()
                .and_then(|s| traffic_decrypter(&suite, s)),
            application_secret,
            in_application: false,
            handshake_seen: false,
            offers_early_data,
        })
    }

    /// Decrypts one client record. Plaintext records (the ClientHello after a
    /// HelloRetryRequest, alerts before encryption) and the compatibility
    /// ChangeCipherSpec are skipped.
    fn decrypt(
        &mut self,
        record: &Record,
        stats: &mut TlsDecryptStats,
        plaintext: &mut Vec<Vec<u8>>,
    ) -> Result<(), Stop> {
        if record.content_type != content_type::APPLICATION_DATA {
            return Ok(());
        }
        if self.in_application {
            let Some(Ok((inner_type, content))) =
                self.application.as_mut().map(|d| d.decrypt(record))
            else {
                stats.records_failed += 1;
                return Err(Stop::Failed);
            };
            stats.records_decrypted += 1;
            self.application_content(inner_type, content, plaintext);
            return Ok(());
        }

        if let Some(Ok((inner_type, content))) = self.handshake.as_mut().map(|d| d.decrypt(record))
        {
            stats.records_decrypted += 1;
            self.handshake_seen = true;
            if inner_type == content_type::HANDSHAKE
                && handshake_types(&content).contains(&HANDSHAKE_FINISHED)
            {
                self.in_application = true;
            }
            return Ok(());
        }
        if !self.handshake_seen {
            if let Some(Ok((inner_type, content))) = self.early.as_mut().map(|d| d.decrypt(record))
            {
                stats.records_decrypted += 1;
                if inner_type == content_type::HANDSHAKE
                    && handshake_types(&content).contains(&HANDSHAKE_END_OF_EARLY_DATA)
                {
                    self.early = None;
                } else if inner_type == content_type::APPLICATION_DATA && !content.is_empty() {
                    plaintext.push(content);
                }
                return Ok(());
            }
        }
        // Without the handshake secret the first application record shows where the handshake ended.
        if let Some(Ok((inner_type, content))) =
            self.application.as_mut().map(|d| d.decrypt(record))
        {
            stats.records_decrypted += 1;
            self.in_application = true;
            self.application_content(inner_type, content, plaintext);
            return Ok(());
        }
        if self.offers_early_data && !self.handshake_seen {
            // 0-RTT data without its secret in the key log: skipped, as a server that rejects it does.
            return Ok(());
        }
        stats.records_failed += 1;
        Err(Stop::Failed)
    }

    fn application_content(
        &mut self,
        inner_type: u8,
        content: Vec<u8>,
        plaintext: &mut Vec<Vec<u8>>,
    ) {
        match inner_type {
            content_type::APPLICATION_DATA if !content.is_empty() => plaintext.push(content),
            content_type::HANDSHAKE
                if handshake_types(&content).contains(&HANDSHAKE_KEY_UPDATE) =>
            {
                self.update_application_secret();
            }
            _ => {}
        }
    }

    /// Moves to the next application traffic secret after a KeyUpdate (RFC 8446 section 7.2).
    fn update_application_secret(&mut self) {
        let hash = self.suite.hash;
        let next = self
            .application_secret
            .as_ref()
            .and_then(|secret| hkdf_expand_label(hash, secret, b"traffic upd", b"", hash.len()));
        self.application = next
            .as_ref()
            .and_then(|secret| traffic_decrypter(&self.suite, secret));
        self.application_secret = next;
    }
}

/// Derives the record key and IV of a TLS 1.3 traffic secret (RFC 8446 section 7.3).
fn traffic_decrypter(suite: &Suite, secret: &[u8]) -> Option<Tls13Decrypter> {
    let key = hkdf_expand_label(suite.hash, secret, b"key", b"", suite.bulk.key_len())?;
    let iv = hkdf_expand_label(suite.hash, secret, b"iv", b"", 12)?;
    Tls13Decrypter::new(suite.bulk, &key, &iv)
}

#[cfg(test)]
mod tests;
