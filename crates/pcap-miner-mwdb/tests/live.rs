//! Pushes to a real MWDB Core started by `scripts/mwdb-up.sh`.
//!
//! The tests run when `PCAP_MINER_MWDB_ENV` names the env file that the script
//! wrote (`scripts/test.d/40-mwdb.sh` sets it), and then fail if the server is
//! not usable. Without the variable each test returns at once, with a message.
//! Tests that stop the server hold a write lock so that no other test of this
//! file talks to MWDB meanwhile.

// Helpers outside `#[test]` functions may unwrap too: a panic fails the test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use pcap_miner_mwdb::{
    check_keys, plan_push, prepare, push, Attribute, Change, Client, ClientOptions, MwdbError,
    PushEvent, RetryPolicy, Sha256, Upload, ValueRules,
};

/// Held for reading by tests that use the server, for writing by tests that stop it.
static SERVER: RwLock<()> = RwLock::new(());

/// The settings that `scripts/mwdb-up.sh` writes.
struct Live {
    api_url: String,
    admin_key: String,
    limited_key: String,
    pid_file: PathBuf,
}

/// Reads the env file, or returns `None` when the live tests are not enabled.
fn live() -> Option<Live> {
    let Ok(path) = std::env::var("PCAP_MINER_MWDB_ENV") else {
        eprintln!("skipped: PCAP_MINER_MWDB_ENV is not set (scripts/test.d/40-mwdb.sh sets it)");
        return None;
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("PCAP_MINER_MWDB_ENV={path}: {error}"));
    let values: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let get = |name: &str| {
        values
            .get(name)
            .unwrap_or_else(|| panic!("{path} has no {name}"))
            .to_string()
    };
    Some(Live {
        api_url: get("MWDB_API_URL"),
        admin_key: get("MWDB_API_KEY"),
        limited_key: get("PCAP_MINER_MWDB_LIMITED_API_KEY"),
        pid_file: PathBuf::from(get("PCAP_MINER_MWDB_GUNICORN_PID_FILE")),
    })
}

fn options(deadline: Duration) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            deadline,
        },
        request_timeout: Duration::from_secs(30),
    }
}

fn admin(live: &Live) -> Client {
    Client::new(
        &live.api_url,
        &live.admin_key,
        options(Duration::from_secs(10)),
    )
    .unwrap()
}

/// Uploads a new random sample with `client` and returns its digest.
fn new_sample(client: &Client) -> Sha256 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let unique = format!(
        "pcap-miner live test sample {} {} {:?}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
    );
    let path = std::env::temp_dir().join(format!(
        "pcap-miner-mwdb-sample-{}",
        Sha256::of_bytes(unique.as_bytes())
    ));
    std::fs::write(&path, unique.as_bytes()).unwrap();
    let sha256 = Sha256::of_file(&path).unwrap();
    assert_eq!(
        client.upload_sample(&path, &sha256).unwrap(),
        Upload::Uploaded
    );
    std::fs::remove_file(&path).unwrap();
    sha256
}

fn dns(value: &str) -> Attribute {
    Attribute::new("network-dns", value)
}

/// Returns how often each string value is stored on the sample, by key and value.
fn stored_counts(client: &Client, sample: &Sha256) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for attribute in client.attributes(sample).unwrap() {
        let value = attribute.value.as_str().unwrap().to_string();
        *counts.entry((attribute.key, value)).or_insert(0) += 1;
    }
    counts
}

/// Prepares, plans and pushes; panics on a planning error.
fn push_all(
    client: &Client,
    sample: &Sha256,
    values: &[Attribute],
) -> pcap_miner_mwdb::PushOutcome {
    let prepared = prepare(values.to_vec(), &ValueRules::default()).unwrap();
    let plan = plan_push(client, sample, prepared.attributes).unwrap();
    push(client, &plan, &mut |_| {})
}

fn four_kinds() -> Vec<Attribute> {
    vec![
        Attribute::new("network-http", "http://evil.example/gate.php?id=1"),
        Attribute::new("network-tcp", "192.0.2.10:443"),
        Attribute::new("network-sni", "evil.example:443"),
        dns("evil.example"),
    ]
}

#[test]
fn live_first_push_then_nothing_new() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let sample = new_sample(&client);
    let values = four_kinds();

    let first = push_all(&client, &sample, &values);
    assert!(first.is_complete(), "{first:?}");
    assert_eq!(first.sent.len(), 4);

    let prepared = prepare(values.clone(), &ValueRules::default()).unwrap();
    let plan = plan_push(&client, &sample, prepared.attributes).unwrap();
    assert!(
        plan.to_send.is_empty(),
        "second push would send {:?}",
        plan.to_send
    );
    assert_eq!(plan.present.len(), 4);

    let counts = stored_counts(&client, &sample);
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|&count| count == 1), "{counts:?}");
}

#[test]
fn live_second_push_sends_only_new_values() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let sample = new_sample(&client);
    push_all(&client, &sample, &[dns("old.example")]);

    let outcome = push_all(&client, &sample, &[dns("old.example"), dns("new.example")]);

    assert_eq!(outcome.sent, [dns("new.example")]);
    assert!(outcome.is_complete());
    assert_eq!(stored_counts(&client, &sample).len(), 2);
}

#[test]
fn live_undeclared_key_rejected_before_sending() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let sample = new_sample(&client);
    let values = vec![dns("a.example"), Attribute::new("network-undeclared", "x")];

    let error = plan_push(&client, &sample, values).unwrap_err();

    let MwdbError::KeysNotSettable { keys, .. } = &error else {
        panic!("expected KeysNotSettable, got {error:?}");
    };
    assert_eq!(keys, &["network-undeclared"]);
    let message = error.to_string();
    assert!(message.contains("network-undeclared"), "{message}");
    assert!(message.contains("attribute/KEY/permissions"), "{message}");
    assert!(client.attributes(&sample).unwrap().is_empty());
}

#[test]
fn live_limited_account_lacks_set_permission() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let limited = Client::new(
        &live.api_url,
        &live.limited_key,
        options(Duration::from_secs(10)),
    )
    .unwrap();
    // An account can read only samples shared with its groups, so it uploads its own.
    let sample = new_sample(&limited);

    let error = plan_push(&limited, &sample, four_kinds()).unwrap_err();

    let MwdbError::KeysNotSettable { keys, .. } = &error else {
        panic!("expected KeysNotSettable, got {error:?}");
    };
    // The account may set network-dns and network-tcp, only read network-http, and has no right on network-sni.
    assert_eq!(keys, &["network-http", "network-sni"]);
    assert!(limited.attributes(&sample).unwrap().is_empty());

    let allowed = vec![
        dns("allowed.example"),
        Attribute::new("network-tcp", "192.0.2.1:80"),
    ];
    check_keys(&limited, &allowed).unwrap();
    let outcome = push_all(&limited, &sample, &allowed);
    assert!(outcome.is_complete(), "{outcome:?}");
    assert_eq!(outcome.sent.len(), 2);
}

#[test]
fn live_key_refused_while_sending() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let limited = Client::new(
        &live.api_url,
        &live.limited_key,
        options(Duration::from_secs(10)),
    )
    .unwrap();
    let sample = new_sample(&limited);

    // Without the up-front check, MWDB returns 404 for the key, and the client names the key.
    let error = limited
        .add_attribute(&sample, &Attribute::new("network-sni", "a.example:443"))
        .unwrap_err();

    assert!(
        matches!(&error, MwdbError::KeyNotSettable { key, .. } if key == "network-sni"),
        "{error:?}"
    );
}

#[test]
fn live_bad_api_key() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = Client::new(
        &live.api_url,
        "not-a-valid-key",
        options(Duration::from_secs(10)),
    )
    .unwrap();
    let sample = Sha256::of_bytes(b"any sample");

    let error = client.attributes(&sample).unwrap_err();

    assert!(
        matches!(error, MwdbError::Unauthenticated { .. }),
        "{error:?}"
    );
}

#[test]
fn live_unknown_sample() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let sample = Sha256::of_bytes(b"pcap-miner: a sample that was never uploaded");

    let error = plan_push(&client, &sample, vec![dns("a.example")]).unwrap_err();

    assert!(
        matches!(error, MwdbError::SampleNotFound { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(sample.as_str()), "{error}");
    assert!(!client.sample_exists(&sample).unwrap());
}

#[test]
fn live_upload_sample() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let path = std::env::temp_dir().join(format!("pcap-miner-mwdb-upload-{}", std::process::id()));
    let content = format!("upload test {:?}", std::time::SystemTime::now());
    std::fs::write(&path, &content).unwrap();
    let sha256 = Sha256::of_bytes(content.as_bytes());

    assert!(!client.sample_exists(&sha256).unwrap());
    assert_eq!(
        client.upload_sample(&path, &sha256).unwrap(),
        Upload::Uploaded
    );
    assert!(client.sample_exists(&sha256).unwrap());
    assert_eq!(
        client.upload_sample(&path, &sha256).unwrap(),
        Upload::AlreadyPresent
    );

    let other = Sha256::of_bytes(b"another file");
    let error = client.upload_sample(&path, &other).unwrap_err();
    assert!(
        matches!(error, MwdbError::Sha256Mismatch { .. }),
        "{error:?}"
    );
    assert!(!client.sample_exists(&other).unwrap());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn live_nul_and_long_values() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let sample = new_sample(&client);
    let long = format!("http://evil.example/{}", "a".repeat(10_000));
    let values = vec![
        Attribute::new("network-http", "http://evil.example/\0x"),
        Attribute::new("network-http", long.clone()),
    ];

    let rules = ValueRules { max_len: 100 };
    let prepared = prepare(values, &rules).unwrap();
    assert_eq!(prepared.adjusted.len(), 2);
    assert_eq!(
        prepared.adjusted[0].changes,
        [Change::NulEscaped { count: 1 }]
    );
    assert_eq!(
        prepared.adjusted[1].changes,
        [Change::Truncated {
            original_len: long.len()
        }]
    );
    let plan = plan_push(&client, &sample, prepared.attributes).unwrap();
    let outcome = push(&client, &plan, &mut |_| {});
    assert!(outcome.is_complete(), "{outcome:?}");

    let stored: BTreeSet<String> = client
        .attributes(&sample)
        .unwrap()
        .into_iter()
        .map(|attribute| attribute.value.as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "http://evil.example/\\x00x".to_string(),
        long[..100].to_string(),
    ]
    .into();
    assert_eq!(stored, expected);
}

#[test]
fn live_raw_nul_gets_500() {
    // The reason NUL is escaped: MWDB 2.20 cannot store it.
    let Some(live) = live() else { return };
    let _server = SERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = admin(&live);
    let sample = new_sample(&client);

    let error = client.add_attribute(&sample, &dns("a\0b")).unwrap_err();

    assert!(
        matches!(error, MwdbError::Status { status: 500, .. }),
        "{error:?}"
    );
}

/// Sends SIGTERM to gunicorn's master and waits until the port refuses connections.
fn stop_server(live: &Live) {
    let pid = std::fs::read_to_string(&live.pid_file).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM {pid} failed");
    let address = server_address(live);
    let started = Instant::now();
    while TcpStream::connect(&address).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gunicorn still listens after 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_server() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mwdb-up.sh");
    let output = Command::new("bash").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "mwdb-up.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn server_address(live: &Live) -> String {
    live.api_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

fn many_values(prefix: &str) -> Vec<Attribute> {
    (0..30)
        .map(|i| dns(&format!("{prefix}-{i:02}.example")))
        .collect()
}

#[test]
fn live_server_stopped_then_rerun() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let sample = new_sample(&admin(&live));
    let values = many_values("rerun");
    let client = Client::new(
        &live.api_url,
        &live.admin_key,
        options(Duration::from_secs(1)),
    )
    .unwrap();
    let plan = plan_push(&client, &sample, values.clone()).unwrap();

    let mut confirmed = 0;
    let outcome = push(&client, &plan, &mut |event| {
        if let PushEvent::Sent(_) = event {
            confirmed += 1;
            if confirmed == 3 {
                stop_server(&live);
            }
        }
    });
    start_server();

    assert_eq!(outcome.sent, values[..3]);
    assert_eq!(outcome.not_sent, values[3..]);
    assert!(
        matches!(outcome.stopped, Some(MwdbError::GaveUp { .. })),
        "{:?}",
        outcome.stopped
    );

    let client = admin(&live);
    let plan = plan_push(&client, &sample, values.clone()).unwrap();
    assert_eq!(plan.to_send, outcome.not_sent);
    let rerun = push(&client, &plan, &mut |_| {});
    assert!(rerun.is_complete(), "{rerun:?}");

    let counts = stored_counts(&client, &sample);
    assert_eq!(counts.len(), values.len());
    assert!(counts.values().all(|&count| count == 1), "{counts:?}");
}

#[test]
fn live_server_restarted_during_retries() {
    let Some(live) = live() else { return };
    let _server = SERVER
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let sample = new_sample(&admin(&live));
    let values = many_values("restart");
    let client = Client::new(
        &live.api_url,
        &live.admin_key,
        options(Duration::from_secs(120)),
    )
    .unwrap();
    let plan = plan_push(&client, &sample, values.clone()).unwrap();

    let mut confirmed = 0;
    let mut restarter = None;
    let outcome = push(&client, &plan, &mut |event| {
        if let PushEvent::Sent(_) = event {
            confirmed += 1;
            if confirmed == 3 {
                stop_server(&live);
                restarter = Some(std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_secs(1));
                    start_server();
                }));
            }
        }
    });
    restarter.unwrap().join().unwrap();

    assert!(outcome.is_complete(), "{outcome:?}");
    assert_eq!(outcome.sent, values);
    let counts = stored_counts(&admin(&live), &sample);
    assert_eq!(counts.len(), values.len());
    assert!(counts.values().all(|&count| count == 1), "{counts:?}");
}
