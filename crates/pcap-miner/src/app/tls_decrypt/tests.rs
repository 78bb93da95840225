//! Whole sessions through [`TlsSession`], with records sealed by the test.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::AeadInPlace;

use super::cipher::tests::Tls12Sealer;
use super::hello::tests::server_hello_body;
use super::keys::{client_keys, TLS12, TLS13};
use super::*;
use crate::keylog::{KeyLog, MASTER_SECRET_LEN};

const CLIENT_RANDOM: [u8; 32] = [0x0c; 32];
const SERVER_RANDOM: [u8; 32] = [0x5e; 32];
const MASTER_SECRET: [u8; MASTER_SECRET_LEN] = [0x4d; MASTER_SECRET_LEN];

fn record_bytes(content_type: u8, body: &[u8]) -> Vec<u8> {
    Record {
        content_type,
        version: TLS12,
        body: body.to_vec(),
    }
    .to_bytes()
}

impl Record {
    fn to_bytes(&self) -> Vec<u8> {
        [self.header().to_vec(), self.body.clone()].concat()
    }
}

fn handshake(handshake_type: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    [&[handshake_type, len[1], len[2], len[3]][..], body].concat()
}

/// Builds a ClientHello record with the fixed random, offering early data when asked.
fn client_hello(early_data: bool) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&CLIENT_RANDOM);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]);
    let extensions: Vec<u8> = if early_data {
        vec![0, 42, 0, 0]
    } else {
        vec![0, 0x17, 0, 0]
    };
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    record_bytes(content_type::HANDSHAKE, &handshake(1, &body))
}

fn server_hello(version: u16, suite: u16, encrypt_then_mac: bool) -> Vec<u8> {
    let mut extensions = Vec::new();
    if version == TLS13 {
        extensions.push((43, vec![3, 4]));
    }
    if encrypt_then_mac {
        extensions.push((22, vec![]));
    }
    let body = server_hello_body(SERVER_RANDOM, TLS12, suite, &extensions);
    record_bytes(content_type::HANDSHAKE, &handshake(2, &body))
}

fn tls12_key_log() -> Arc<KeyLog> {
    let mut key_log = KeyLog::default();
    key_log.insert_master_secret(CLIENT_RANDOM, MASTER_SECRET);
    Arc::new(key_log)
}

/// Builds the client's records after the ServerHello of a TLS 1.2 session: key
/// exchange, ChangeCipherSpec, Finished, then one record per request.
fn tls12_client_flight(suite_id: u16, encrypt_then_mac: bool, requests: &[&[u8]]) -> Vec<u8> {
    let suite = suite::tls12_suite(suite_id).unwrap();
    let keys = client_keys(
        TLS12,
        &suite,
        &MASTER_SECRET,
        &CLIENT_RANDOM,
        &SERVER_RANDOM,
    );
    let mut stream = record_bytes(content_type::HANDSHAKE, &handshake(16, &[0; 33]));
    stream.extend(record_bytes(content_type::CHANGE_CIPHER_SPEC, &[1]));
    let finished = handshake(20, &[0xf1; 12]);
    let mut sealer = Tls12Sealer::new(TLS12, suite, &keys, encrypt_then_mac);
    let mut seal = |content_type: u8, content: &[u8]| sealer.seal(content_type, content).to_bytes();
    stream.extend(seal(content_type::HANDSHAKE, &finished));
    for request in requests {
        stream.extend(seal(content_type::APPLICATION_DATA, request));
    }
    stream
}

fn texts(chunks: &[Vec<u8>]) -> Vec<String> {
    chunks
        .iter()
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect()
}

const GET: &[u8] = b"GET /gate.php?id=1 HTTP/1.1\r\nHost: c2.example\r\n\r\n";
const POST: &[u8] = b"POST /upload HTTP/1.1\r\nHost: c2.example\r\nContent-Length: 0\r\n\r\n";

#[test]
fn tls12_session_decrypts_every_suite() {
    for suite_id in suite::tls12_suite_ids() {
        let cbc = suite::tls12_suite(suite_id).unwrap().bulk.is_cbc();
        for encrypt_then_mac in [false, cbc] {
            let mut stats = TlsDecryptStats::default();
            let mut session = TlsSession::new(tls12_key_log());

            assert!(session
                .client_data(&client_hello(false), &mut stats)
                .is_empty());
            assert!(session.wants_server_data());
            session.server_data(&server_hello(TLS12, suite_id, encrypt_then_mac), &mut stats);
            assert!(!session.wants_server_data());
            let flight = tls12_client_flight(suite_id, encrypt_then_mac, &[GET, POST]);
            let plaintext = session.client_data(&flight, &mut stats);

            let label = format!("suite {suite_id:#06x} encrypt_then_mac {encrypt_then_mac}");
            assert_eq!(
                texts(&plaintext),
                [texts(&[GET.to_vec(), POST.to_vec()])].concat(),
                "{label}"
            );
            assert_eq!(stats.sessions_with_keys, 1, "{label}");
            assert_eq!(stats.records_decrypted, 3, "{label}");
            assert_eq!(stats.records_failed, 0, "{label}");
            assert!(session.is_active(), "{label}");
        }
    }
}

#[test]
fn tls12_client_records_wait_for_server_hello() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    let client = [
        client_hello(false),
        tls12_client_flight(0xc030, false, &[GET]),
    ]
    .concat();

    // Byte by byte, as the worst segmentation.
    for byte in &client {
        assert!(session.client_data(&[*byte], &mut stats).is_empty());
    }
    let plaintext = session.server_data(&server_hello(TLS12, 0xc030, false), &mut stats);

    assert_eq!(texts(&plaintext), texts(&[GET.to_vec()]));
}

#[test]
fn tls12_missing_key_stops_quietly() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(Arc::new(KeyLog::default()));

    session.client_data(&client_hello(false), &mut stats);

    assert!(!session.is_active());
    assert!(!session.wants_server_data());
    assert_eq!(stats.sessions_without_keys, 1);
    assert_eq!(stats.sessions_with_keys, 0);
}

#[test]
fn tls12_tampered_record_counted_and_rest_skipped() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    session.client_data(&client_hello(false), &mut stats);
    session.server_data(&server_hello(TLS12, 0xc02f, false), &mut stats);
    let mut flight = tls12_client_flight(0xc02f, false, &[GET, POST]);
    let second_request_end = flight.len();
    let first_request_end = second_request_end - (5 + 8 + POST.len() + 16);
    flight[first_request_end - 1] ^= 0x80;

    let plaintext = session.client_data(&flight, &mut stats);

    assert!(plaintext.is_empty());
    assert_eq!(stats.records_decrypted, 1);
    assert_eq!(stats.records_failed, 1);
    assert!(!session.is_active());
}

#[test]
fn tls12_unsupported_suite_not_followed() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    session.client_data(&client_hello(false), &mut stats);

    // TLS_RSA_WITH_3DES_EDE_CBC_SHA.
    session.server_data(&server_hello(TLS12, 0x000a, false), &mut stats);

    assert!(!session.is_active());
    assert_eq!(stats.sessions_not_followed, 1);
}

#[test]
fn client_gap_ends_session() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    session.client_data(&client_hello(false), &mut stats);
    session.server_data(&server_hello(TLS12, 0xc02f, false), &mut stats);

    session.client_gap(&mut stats);

    assert!(!session.is_active());
    assert_eq!(stats.sessions_not_followed, 1);
}

#[test]
fn server_without_hello_not_followed() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    session.client_data(&client_hello(false), &mut stats);
    session.client_data(
        &record_bytes(content_type::CHANGE_CIPHER_SPEC, &[1]),
        &mut stats,
    );

    session.finish(&mut stats);

    assert_eq!(stats.sessions_not_followed, 1);
}

// ---- TLS 1.3 ----

const HANDSHAKE_SECRET: [u8; 32] = [0x48; 32];
const APPLICATION_SECRET: [u8; 32] = [0x41; 32];
const EARLY_SECRET: [u8; 32] = [0x45; 32];

fn tls13_key_log(handshake: bool, early: bool) -> Arc<KeyLog> {
    let mut key_log = KeyLog::default();
    let mut add = |label: &str, secret: &[u8]| {
        key_log
            .insert_secret(label, CLIENT_RANDOM, secret.to_vec())
            .unwrap();
    };
    if handshake {
        add("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &HANDSHAKE_SECRET);
    }
    if early {
        add("CLIENT_EARLY_TRAFFIC_SECRET", &EARLY_SECRET);
    }
    add("CLIENT_TRAFFIC_SECRET_0", &APPLICATION_SECRET);
    Arc::new(key_log)
}

/// Seals TLS 1.3 records under one traffic secret, numbering them from 0.
struct Tls13Sealer {
    aead: Aead,
    iv: [u8; 12],
    sequence: u64,
}

impl Tls13Sealer {
    fn new(secret: &[u8]) -> Self {
        let suite = suite::tls13_suite(0x1301).unwrap();
        let key = hkdf_expand_label(suite.hash, secret, b"key", b"", 16).unwrap();
        let iv = hkdf_expand_label(suite.hash, secret, b"iv", b"", 12).unwrap();
        Tls13Sealer {
            aead: Aead::new(suite.bulk, &key).unwrap(),
            iv: iv.try_into().unwrap(),
            sequence: 0,
        }
    }

    fn seal(&mut self, inner_type: u8, content: &[u8]) -> Vec<u8> {
        let mut text = [content, &[inner_type], &[0, 0, 0]].concat();
        let header = Record {
            content_type: content_type::APPLICATION_DATA,
            version: TLS12,
            body: vec![0; text.len() + 16],
        }
        .header();
        let nonce = sequence_nonce(&self.iv, self.sequence);
        self.sequence += 1;
        let Aead::Aes128Gcm(aead) = &self.aead else {
            unreachable!()
        };
        let tag = aead
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &header, &mut text)
            .unwrap();
        [header.to_vec(), text, tag.to_vec()].concat()
    }
}

#[test]
fn tls13_session_switches_keys_on_finished() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(true, false));
    let mut handshake_keys = Tls13Sealer::new(&HANDSHAKE_SECRET);
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);

    session.client_data(&client_hello(false), &mut stats);
    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    let mut flight = record_bytes(content_type::CHANGE_CIPHER_SPEC, &[1]);
    flight.extend(handshake_keys.seal(content_type::HANDSHAKE, &handshake(20, &[0xf1; 32])));
    flight.extend(application_keys.seal(content_type::APPLICATION_DATA, GET));
    flight.extend(application_keys.seal(content_type::ALERT, &[1, 0]));
    let plaintext = session.client_data(&flight, &mut stats);

    assert_eq!(texts(&plaintext), texts(&[GET.to_vec()]));
    assert_eq!(stats.records_decrypted, 3);
    assert_eq!(stats.records_failed, 0);
}

#[test]
fn tls13_hello_retry_request_skipped() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(true, false));
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);
    let mut handshake_keys = Tls13Sealer::new(&HANDSHAKE_SECRET);
    let retry_random: [u8; 32] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ];
    let retry = server_hello_body(retry_random, TLS12, 0x1301, &[(43, vec![3, 4])]);

    session.client_data(&client_hello(false), &mut stats);
    session.server_data(
        &record_bytes(content_type::HANDSHAKE, &handshake(2, &retry)),
        &mut stats,
    );
    assert!(session.wants_server_data());
    // The second ClientHello is plaintext and is skipped.
    session.client_data(&client_hello(false), &mut stats);
    session.server_data(
        &record_bytes(content_type::CHANGE_CIPHER_SPEC, &[1]),
        &mut stats,
    );
    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    assert!(!session.wants_server_data());
    let mut flight = handshake_keys.seal(content_type::HANDSHAKE, &handshake(20, &[0xf1; 32]));
    flight.extend(application_keys.seal(content_type::APPLICATION_DATA, GET));
    let plaintext = session.client_data(&flight, &mut stats);

    assert_eq!(texts(&plaintext), texts(&[GET.to_vec()]));
}

#[test]
fn tls13_without_handshake_secret_finds_application_records() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(false, false));
    let mut handshake_keys = Tls13Sealer::new(&HANDSHAKE_SECRET);
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);

    session.client_data(&client_hello(false), &mut stats);
    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    let mut flight = handshake_keys.seal(content_type::HANDSHAKE, &handshake(20, &[0xf1; 32]));
    flight.extend(application_keys.seal(content_type::APPLICATION_DATA, GET));
    let plaintext = session.client_data(&flight, &mut stats);

    // The Finished record cannot be read, which counts as a failure and stops the session.
    assert!(plaintext.is_empty());
    assert_eq!(stats.records_failed, 1);

    // A session whose first encrypted record is application data is read.
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(false, false));
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);
    session.client_data(&client_hello(false), &mut stats);
    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    let plaintext = session.client_data(
        &application_keys.seal(content_type::APPLICATION_DATA, GET),
        &mut stats,
    );
    assert_eq!(texts(&plaintext), texts(&[GET.to_vec()]));
}

#[test]
fn tls13_key_update_followed() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(true, false));
    let mut handshake_keys = Tls13Sealer::new(&HANDSHAKE_SECRET);
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);
    let hash = suite::Hash::Sha256;
    let next_secret =
        hkdf_expand_label(hash, &APPLICATION_SECRET, b"traffic upd", b"", 32).unwrap();
    let mut next_keys = Tls13Sealer::new(&next_secret);

    session.client_data(&client_hello(false), &mut stats);
    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    let mut flight = handshake_keys.seal(content_type::HANDSHAKE, &handshake(20, &[0xf1; 32]));
    flight.extend(application_keys.seal(content_type::APPLICATION_DATA, GET));
    flight.extend(application_keys.seal(content_type::HANDSHAKE, &handshake(24, &[0])));
    flight.extend(next_keys.seal(content_type::APPLICATION_DATA, POST));
    let plaintext = session.client_data(&flight, &mut stats);

    assert_eq!(texts(&plaintext), texts(&[GET.to_vec(), POST.to_vec()]));
    assert_eq!(stats.records_failed, 0);
}

#[test]
fn tls13_early_data_read_with_early_secret() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(true, true));
    let mut early_keys = Tls13Sealer::new(&EARLY_SECRET);
    let mut handshake_keys = Tls13Sealer::new(&HANDSHAKE_SECRET);
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);

    let mut first_flight = client_hello(true);
    first_flight.extend(early_keys.seal(content_type::APPLICATION_DATA, GET));
    assert!(session.client_data(&first_flight, &mut stats).is_empty());
    let early = session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    let mut flight = early_keys.seal(content_type::HANDSHAKE, &handshake(5, &[]));
    flight.extend(handshake_keys.seal(content_type::HANDSHAKE, &handshake(20, &[0xf1; 32])));
    flight.extend(application_keys.seal(content_type::APPLICATION_DATA, POST));
    let later = session.client_data(&flight, &mut stats);

    assert_eq!(texts(&early), texts(&[GET.to_vec()]));
    assert_eq!(texts(&later), texts(&[POST.to_vec()]));
}

#[test]
fn tls13_rejected_early_data_skipped_without_secret() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls13_key_log(true, false));
    let mut early_keys = Tls13Sealer::new(&EARLY_SECRET);
    let mut handshake_keys = Tls13Sealer::new(&HANDSHAKE_SECRET);
    let mut application_keys = Tls13Sealer::new(&APPLICATION_SECRET);

    let mut first_flight = client_hello(true);
    first_flight.extend(early_keys.seal(content_type::APPLICATION_DATA, GET));
    session.client_data(&first_flight, &mut stats);
    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);
    let mut flight = handshake_keys.seal(content_type::HANDSHAKE, &handshake(20, &[0xf1; 32]));
    flight.extend(application_keys.seal(content_type::APPLICATION_DATA, POST));
    let plaintext = session.client_data(&flight, &mut stats);

    assert_eq!(texts(&plaintext), texts(&[POST.to_vec()]));
    assert_eq!(stats.records_failed, 0);
}

#[test]
fn tls13_master_secret_only_not_followed() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    session.client_data(&client_hello(false), &mut stats);

    session.server_data(&server_hello(TLS13, 0x1301, false), &mut stats);

    assert!(!session.is_active());
    assert_eq!(stats.sessions_not_followed, 1);
}

#[test]
fn non_tls_server_stream_not_followed() {
    let mut stats = TlsDecryptStats::default();
    let mut session = TlsSession::new(tls12_key_log());
    session.client_data(&client_hello(false), &mut stats);

    session.server_data(b"HTTP/1.1 400 Bad Request\r\n\r\n", &mut stats);

    assert!(!session.is_active());
    assert_eq!(stats.sessions_not_followed, 1);
}
