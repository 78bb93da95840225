//! TLS decryption with key logs and QUIC Initial reading, on the project's
//! own captures and the shared corpus's key-log captures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use pcap_miner::keylog::KeyLog;
use pcap_miner::{mine_path, Config, IndicatorKind, MineReport};

use crate::shared_corpus::shared_corpus;
use crate::util::{capture_in, key_log_in, read_expected, repo_root};

/// Own captures with a key log, with the number of their TLS sessions that
/// the key log covers and does not cover.
const KEY_LOG_CAPTURES: &[(&str, u64, u64)] = &[
    ("tls12-keylog", 20, 1),
    ("tls13-keylog", 10, 0),
    ("tls-tlsmon", 3, 1),
];

/// Shared-corpus captures that come with a `keylog.txt`, and their covered sessions.
const SHARED_KEY_LOG_CAPTURES: &[(&str, u64)] =
    &[("zeek-tls12-decryption", 1), ("ill-tls13-keylog", 1)];

fn own(name: &str) -> PathBuf {
    repo_root().join("corpus").join(name)
}

fn config(key_log: Option<Arc<KeyLog>>) -> Config {
    Config {
        max_results: None,
        key_log,
        ..Config::default()
    }
}

fn mine(dir: &Path, key_log: Option<Arc<KeyLog>>) -> MineReport {
    let capture = capture_in(dir);
    mine_path(&capture, &config(key_log))
        .unwrap_or_else(|partial| panic!("{}: {}", capture.display(), partial.error))
}

fn values(report: &MineReport, kind: IndicatorKind) -> Vec<String> {
    report.indicators.get(kind).map(str::to_string).collect()
}

fn expected(dir: &Path, kind: IndicatorKind) -> Vec<String> {
    read_expected(&dir.join("expected.json"))
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, values)| values.into_iter().collect())
        .unwrap_or_default()
}

#[test]
fn key_log_sessions_all_decrypted() {
    for &(name, with_keys, without_keys) in KEY_LOG_CAPTURES {
        let dir = own(name);
        let stats = mine(&dir, key_log_in(&dir)).stats.tls_decryption;

        assert_eq!(stats.sessions_with_keys, with_keys, "{name}");
        assert_eq!(stats.sessions_without_keys, without_keys, "{name}");
        assert_eq!(stats.sessions_not_followed, 0, "{name}");
        assert_eq!(stats.records_failed, 0, "{name}");
        // Every covered session has at least its Finished and one request.
        assert!(
            stats.records_decrypted >= 2 * with_keys,
            "{name}: {stats:?}"
        );
    }
}

#[test]
fn shared_key_log_sessions_decrypted() {
    let Some(corpus) = shared_corpus() else {
        eprintln!("SKIPPED shared_key_log_sessions_decrypted: shared corpus not found");
        return;
    };
    for &(name, with_keys) in SHARED_KEY_LOG_CAPTURES {
        let dir = corpus.join(name);
        let stats = mine(&dir, key_log_in(&dir)).stats.tls_decryption;

        assert_eq!(stats.sessions_with_keys, with_keys, "{name}");
        assert_eq!(stats.sessions_not_followed, 0, "{name}");
        assert_eq!(stats.records_failed, 0, "{name}");
        assert!(stats.records_decrypted >= 2, "{name}: {stats:?}");
    }
}

#[test]
fn without_key_log_no_https_uri() {
    for &(name, _, _) in KEY_LOG_CAPTURES {
        let dir = own(name);
        let report = mine(&dir, None);

        assert!(values(&report, IndicatorKind::Http).is_empty(), "{name}");
        assert_eq!(
            values(&report, IndicatorKind::Sni),
            expected(&dir, IndicatorKind::Sni),
            "{name}"
        );
        assert_eq!(
            values(&report, IndicatorKind::Tcp),
            expected(&dir, IndicatorKind::Tcp),
            "{name}"
        );
        assert_eq!(
            report.stats.tls_decryption,
            Default::default(),
            "{name}: nothing is decrypted without a key log"
        );
    }
}

#[test]
fn wrong_secrets_fail_authentication() {
    let dir = own("tls12-keylog");
    let text = std::fs::read_to_string(dir.join("keylog.txt")).unwrap();
    // Change the last digit of every master secret: the randoms still match, the keys do not.
    let altered: String = text
        .lines()
        .map(|line| {
            let mut line = line.to_string();
            if line.starts_with("CLIENT_RANDOM ") {
                let last = if line.ends_with('0') { '1' } else { '0' };
                line.pop();
                line.push(last);
            }
            line + "\n"
        })
        .collect();
    let parsed = KeyLog::parse(&altered);

    let report = mine(&dir, Some(Arc::new(parsed.key_log)));
    let stats = report.stats.tls_decryption;

    assert!(values(&report, IndicatorKind::Http).is_empty());
    assert_eq!(stats.sessions_with_keys, 20);
    // The first encrypted record of each session, its Finished, fails; nothing after it is tried.
    assert_eq!(stats.records_failed, 20);
    assert_eq!(stats.records_decrypted, 0);
}

#[test]
fn quic_capture_reads_every_client_hello() {
    let report = mine(&own("quic-initial"), None);
    let stats = report.stats.quic;

    assert_eq!(
        values(&report, IndicatorKind::Sni),
        ["localhost:4433", "localhost:4434", "localhost:8443"]
    );
    // Three connections, and the one to port 4434 sends its ClientHello again after a Retry.
    assert_eq!(stats.client_hellos, 4);
    assert_eq!(stats.malformed_client_hellos, 0);
    assert!(stats.initial_packets >= 4, "{stats:?}");
}

/// Runs the binary and returns its exit code, standard output and standard error.
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pcap-miner"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn cli_keylog_option_decrypts() {
    let dir = own("tls-tlsmon");
    let capture = dir.join("capture.pcap");
    let key_log = dir.join("tlsmon.log");

    let (code, stdout, stderr) = run(&[
        "mine",
        capture.to_str().unwrap(),
        "--keylog",
        key_log.to_str().unwrap(),
        "--format",
        "text",
    ]);

    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("network-http\thttps://c2.example.test/gate.php?id=1\n"),
        "{stdout}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn cli_keylog_bad_lines_warned() {
    let dir = std::env::temp_dir().join(format!("pcap-miner-keylog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_log = dir.join("tlsmon.log");
    let good = std::fs::read_to_string(own("tls-tlsmon").join("tlsmon.log")).unwrap();
    std::fs::write(
        &key_log,
        format!("{good}{{\"client_random\": \"00\"}}\nnot json\n"),
    )
    .unwrap();
    let capture = own("tls-tlsmon").join("capture.pcap");
    let good_lines = good.lines().count();

    let (code, stdout, stderr) = run(&[
        "mine",
        capture.to_str().unwrap(),
        "--keylog",
        key_log.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("https://cdn.example.test/update.bin"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "line {}: client random has 1 bytes",
            good_lines + 1
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("line {}: invalid JSON", good_lines + 2)),
        "{stderr}"
    );
}

#[test]
fn cli_wrong_keylog_warns_of_failures() {
    let dir = std::env::temp_dir().join(format!("pcap-miner-wrong-keylog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_log = dir.join("tlsmon.log");
    let good = std::fs::read_to_string(own("tls-tlsmon").join("tlsmon.log")).unwrap();
    // Every master secret gets another first byte: the randoms match, the keys do not.
    let altered: String = good
        .lines()
        .map(|line| {
            let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
            let secret = event["master_key"].as_str().unwrap();
            let first = if secret.starts_with("00") { "11" } else { "00" };
            event["master_key"] = format!("{first}{}", &secret[2..]).into();
            event.to_string() + "\n"
        })
        .collect();
    std::fs::write(&key_log, altered).unwrap();
    let capture = own("tls-tlsmon").join("capture.pcap");

    let (code, stdout, stderr) = run(&[
        "mine",
        capture.to_str().unwrap(),
        "--keylog",
        key_log.to_str().unwrap(),
        "--threads",
        "1",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("https://"), "{stdout}");
    assert!(
        stderr.contains("warning: 3 TLS records failed authentication"),
        "{stderr}"
    );
}

#[test]
fn cli_missing_keylog_is_usage_error() {
    let capture = own("tls-tlsmon").join("capture.pcap");

    let (code, stdout, stderr) = run(&[
        "mine",
        capture.to_str().unwrap(),
        "--keylog",
        "/nonexistent/tlsmon.log",
    ]);

    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("cannot read key log /nonexistent/tlsmon.log"),
        "{stderr}"
    );
}
