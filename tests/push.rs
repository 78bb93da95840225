//! `pcap-miner push`: the command line, offline and against a real MWDB.
//!
//! Tests named `push_live_*` need the MWDB that `scripts/mwdb-up.sh` starts.
//! They run when `PCAP_MINER_MWDB_ENV` names its env file, as
//! `scripts/test.d/40-mwdb.sh` sets it, and then fail when that server is not
//! usable. Without the variable they return at once, with a message.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{read_expected, repo_root};

fn corpus_capture(name: &str) -> PathBuf {
    repo_root().join("corpus").join(name).join(match name {
        "mixed" => "capture.pcapng",
        _ => "capture.pcap",
    })
}

/// Runs `pcap-miner push ARGS` with the MWDB variables cleared, then `env` set.
fn run_push(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pcap-miner"));
    command
        .arg("push")
        .args(args)
        .env_remove("MWDB_API_URL")
        .env_remove("MWDB_API_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses the `STATUS<TAB>KEY<TAB>VALUE` lines into status → set of `key value`.
fn lines_by_status(output: &Output) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_status: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in stdout(output).lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(status), Some(key), Some(value)) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("not a STATUS<TAB>KEY<TAB>VALUE line: {line:?}");
        };
        by_status
            .entry(status.to_string())
            .or_default()
            .insert(format!("{key} {value}"));
    }
    by_status
}

/// Returns the `key value` strings of a corpus folder's expected.json.
fn expected_values(name: &str) -> BTreeSet<String> {
    let path = repo_root().join("corpus").join(name).join("expected.json");
    read_expected(&path)
        .into_iter()
        .flat_map(|(kind, values)| {
            values
                .into_iter()
                .map(move |value| format!("{} {value}", kind.key()))
        })
        .collect()
}

/// Returns a 127.0.0.1 URL on which nothing listens.
fn closed_api_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/api/")
}

const SAMPLE: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pcap-miner-push-{}-{name}", std::process::id()))
}

#[test]
fn push_offline_dry_run_lists_mined_values() {
    let capture = corpus_capture("mixed");
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--dry-run",
            "--offline",
        ],
        &[],
    );

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let by_status = lines_by_status(&output);
    assert_eq!(by_status.keys().collect::<Vec<_>>(), ["would-send"]);
    assert_eq!(by_status["would-send"], expected_values("mixed"));
}

#[test]
fn push_max_value_length_cuts_values() {
    let capture = corpus_capture("http-curl");
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--dry-run",
            "--offline",
            "--max-value-length",
            "20",
        ],
        &[],
    );

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let cut: BTreeSet<String> = expected_values("http-curl")
        .into_iter()
        .map(|line| {
            let (key, value) = line.split_once(' ').unwrap();
            format!("{key} {}", &value[..value.len().min(20)])
        })
        .collect();
    assert_eq!(lines_by_status(&output)["would-send"], cut);
    let message = stderr(&output);
    assert!(
        message.contains("cut from 45 to 20 bytes"),
        "no warning for http://127.0.0.1:8080/gate.php?id=42&os=linux: {message}"
    );
}

#[test]
fn push_invalid_max_value_length() {
    let capture = corpus_capture("http-curl");
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--dry-run",
            "--offline",
            "--max-value-length",
            "0",
        ],
        &[],
    );

    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("at least 1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn push_offline_requires_dry_run() {
    let capture = corpus_capture("mixed");
    let output = run_push(
        &[capture.to_str().unwrap(), "--sample", SAMPLE, "--offline"],
        &[],
    );

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--dry-run"), "{}", stderr(&output));
}

#[test]
fn push_without_url_is_usage_error() {
    let capture = corpus_capture("mixed");
    let output = run_push(
        &[capture.to_str().unwrap(), "--sample", SAMPLE],
        &[("MWDB_API_KEY", "k")],
    );

    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("MWDB_API_URL"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn push_without_key_is_usage_error() {
    let capture = corpus_capture("mixed");
    let url = closed_api_url();
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--mwdb-url",
            &url,
        ],
        &[],
    );

    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("MWDB_API_KEY"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn push_invalid_sha256_is_usage_error() {
    let capture = corpus_capture("mixed");
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            "abc",
            "--dry-run",
            "--offline",
        ],
        &[],
    );

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("\"abc\""), "{}", stderr(&output));
}

#[test]
fn push_unreachable_lists_all_not_sent() {
    let capture = corpus_capture("mixed");
    let url = closed_api_url();
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--mwdb-url",
            &url,
            "--retry-deadline",
            "0.3",
        ],
        &[("MWDB_API_KEY", "k")],
    );

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let by_status = lines_by_status(&output);
    assert_eq!(by_status.keys().collect::<Vec<_>>(), ["not-sent"]);
    assert_eq!(by_status["not-sent"], expected_values("mixed"));
    let message = stderr(&output);
    assert!(message.contains("retrying"), "{message}");
    assert!(message.contains("run the same command again"), "{message}");
}

#[test]
fn push_dry_run_unreachable_lists_values() {
    let capture = corpus_capture("dns-dig");
    let url = closed_api_url();
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--mwdb-url",
            &url,
            "--dry-run",
        ],
        &[("MWDB_API_KEY", "k")],
    );

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        lines_by_status(&output)["would-send"],
        expected_values("dns-dig")
    );
    assert!(
        stderr(&output).contains("unreachable"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn push_settings_precedence() {
    let capture = corpus_capture("dns-dig");
    let capture = capture.to_str().unwrap();
    let (flag_url, env_url, ini_url) = (closed_api_url(), closed_api_url(), closed_api_url());
    let ini = temp_path("precedence.ini");
    std::fs::write(
        &ini,
        format!("[mwdb]\napi_url = {ini_url}\napi_key = ini-key\n"),
    )
    .unwrap();
    let ini_arg = ini.to_str().unwrap();
    let common = [
        "--sample",
        SAMPLE,
        "--retry-deadline",
        "0",
        "--config",
        ini_arg,
    ];
    let env = [("MWDB_API_URL", env_url.as_str())];

    let with_flag = run_push(
        &[&[capture, "--mwdb-url", &flag_url][..], &common].concat(),
        &env,
    );
    let with_env = run_push(&[&[capture][..], &common].concat(), &env);
    let with_ini = run_push(&[&[capture][..], &common].concat(), &[]);
    std::fs::remove_file(&ini).unwrap();

    for (output, url) in [
        (&with_flag, &flag_url),
        (&with_env, &env_url),
        (&with_ini, &ini_url),
    ] {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
        assert!(
            stderr(output).contains(url.as_str()),
            "expected {url} in: {}",
            stderr(output)
        );
    }
}

#[test]
fn push_upload_digest_mismatch() {
    let capture = corpus_capture("dns-dig");
    let file = temp_path("mismatch.bin");
    std::fs::write(&file, b"not the sample").unwrap();
    let url = closed_api_url();
    let output = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            SAMPLE,
            "--mwdb-url",
            &url,
            "--upload",
            file.to_str().unwrap(),
        ],
        &[("MWDB_API_KEY", "k")],
    );
    std::fs::remove_file(&file).unwrap();

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(SAMPLE), "{}", stderr(&output));
    assert!(!stderr(&output).contains("retrying"), "{}", stderr(&output));
}

/// Settings of the MWDB that `scripts/mwdb-up.sh` started.
struct Live {
    api_url: String,
    admin_key: String,
    limited_key: String,
}

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
    })
}

/// Writes a new sample file and returns its path and SHA-256.
fn new_sample(name: &str) -> (PathBuf, String) {
    let path = temp_path(&format!("{name}.bin"));
    let content = format!(
        "pcap-miner push test {name} {:?}",
        std::time::SystemTime::now()
    );
    std::fs::write(&path, &content).unwrap();
    let sha256 = pcap_miner_mwdb::Sha256::of_bytes(content.as_bytes()).to_string();
    (path, sha256)
}

fn push_to(live: &Live, key: &str, capture: &Path, sample: &str, extra: &[&str]) -> Output {
    let args = [&[capture.to_str().unwrap(), "--sample", sample][..], extra].concat();
    run_push(
        &args,
        &[
            ("MWDB_API_URL", live.api_url.as_str()),
            ("MWDB_API_KEY", key),
        ],
    )
}

#[test]
fn push_live_first_second_and_dry_run() {
    let Some(live) = live() else { return };
    let (file, sample) = new_sample("first");
    let capture = corpus_capture("mixed");

    let first = push_to(
        &live,
        &live.admin_key,
        &capture,
        &sample,
        &["--upload", file.to_str().unwrap()],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(lines_by_status(&first)["sent"], expected_values("mixed"));
    assert!(stderr(&first).contains("uploaded"), "{}", stderr(&first));

    // The second push reads the URL and key from the [mwdb] section of --config.
    let ini = temp_path("live.ini");
    std::fs::write(
        &ini,
        format!(
            "[mwdb]\napi_url = {}\napi_key = {}\n",
            live.api_url, live.admin_key
        ),
    )
    .unwrap();
    let second = run_push(
        &[
            capture.to_str().unwrap(),
            "--sample",
            &sample,
            "--config",
            ini.to_str().unwrap(),
        ],
        &[],
    );
    std::fs::remove_file(&ini).unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let by_status = lines_by_status(&second);
    assert_eq!(by_status.keys().collect::<Vec<_>>(), ["present"]);
    assert_eq!(by_status["present"], expected_values("mixed"));

    let dry_run = push_to(&live, &live.admin_key, &capture, &sample, &["--dry-run"]);
    assert_eq!(dry_run.status.code(), Some(0), "{}", stderr(&dry_run));
    assert_eq!(
        lines_by_status(&dry_run)["present"],
        expected_values("mixed")
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn push_live_dry_run_reads_stored_values() {
    let Some(live) = live() else { return };
    let (file, sample) = new_sample("dry-run");
    let upload = ["--upload", file.to_str().unwrap()];

    let dry_new = push_to(
        &live,
        &live.admin_key,
        &corpus_capture("tls-sni"),
        &sample,
        &[&upload[..], &["--dry-run"]].concat(),
    );
    assert_eq!(dry_new.status.code(), Some(0), "{}", stderr(&dry_new));
    assert_eq!(
        lines_by_status(&dry_new)["would-send"],
        expected_values("tls-sni")
    );
    assert!(
        stderr(&dry_new).contains("would upload"),
        "{}",
        stderr(&dry_new)
    );

    let first = push_to(
        &live,
        &live.admin_key,
        &corpus_capture("tls-sni"),
        &sample,
        &upload,
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));

    // mixed shares 127.0.0.1:4433 with tls-sni; only that value is stored already.
    let dry_run = push_to(
        &live,
        &live.admin_key,
        &corpus_capture("mixed"),
        &sample,
        &["--dry-run"],
    );
    assert_eq!(dry_run.status.code(), Some(0), "{}", stderr(&dry_run));
    let by_status = lines_by_status(&dry_run);
    let shared: BTreeSet<String> = ["network-tcp 127.0.0.1:4433".to_string()].into();
    assert_eq!(by_status["present"], shared);
    let new: BTreeSet<String> = expected_values("mixed")
        .difference(&shared)
        .cloned()
        .collect();
    assert_eq!(by_status["would-send"], new);

    let after = push_to(
        &live,
        &live.admin_key,
        &corpus_capture("mixed"),
        &sample,
        &["--dry-run"],
    );
    assert_eq!(
        lines_by_status(&after)["would-send"],
        new,
        "the dry run sent something"
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn push_live_limited_account_names_keys() {
    let Some(live) = live() else { return };
    let (file, sample) = new_sample("limited");
    let capture = corpus_capture("mixed");

    let output = push_to(
        &live,
        &live.limited_key,
        &capture,
        &sample,
        &["--upload", file.to_str().unwrap()],
    );
    std::fs::remove_file(&file).unwrap();

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("network-http, network-sni"), "{message}");
    assert!(message.contains("permissions"), "{message}");
    assert_eq!(message.matches("error:").count(), 1, "{message}");
    let by_status = lines_by_status(&output);
    assert_eq!(by_status.keys().collect::<Vec<_>>(), ["not-sent"]);
    assert_eq!(by_status["not-sent"], expected_values("mixed"));
}

#[test]
fn push_live_bad_api_key() {
    let Some(live) = live() else { return };
    let output = push_to(
        &live,
        "not-a-valid-key",
        &corpus_capture("dns-dig"),
        SAMPLE,
        &[],
    );

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("rejected the API key"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn push_live_unknown_sample() {
    let Some(live) = live() else { return };
    let (_, sample) = new_sample("never-uploaded");
    let output = push_to(
        &live,
        &live.admin_key,
        &corpus_capture("dns-dig"),
        &sample,
        &[],
    );

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&sample), "{message}");
    assert!(message.contains("--upload"), "{message}");
}

#[test]
fn push_live_damaged_capture() {
    let Some(live) = live() else { return };
    let (file, sample) = new_sample("damaged");
    let whole = std::fs::read(corpus_capture("http-curl")).unwrap();
    let cut = temp_path("cut.pcap");
    std::fs::write(&cut, &whole[..9000]).unwrap();

    let mined = Command::new(env!("CARGO_BIN_EXE_pcap-miner"))
        .args(["mine", cut.to_str().unwrap(), "--format", "text"])
        .output()
        .unwrap();
    let mined_before_damage: BTreeSet<String> = stdout(&mined)
        .lines()
        .map(|line| line.replacen('\t', " ", 1))
        .collect();
    let output = push_to(
        &live,
        &live.admin_key,
        &cut,
        &sample,
        &["--upload", file.to_str().unwrap()],
    );
    std::fs::remove_file(&cut).unwrap();
    std::fs::remove_file(&file).unwrap();

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("cut short"), "{}", stderr(&output));
    assert!(!mined_before_damage.is_empty());
    assert!(mined_before_damage.len() < expected_values("http-curl").len());
    let by_status = lines_by_status(&output);
    assert_eq!(by_status.keys().collect::<Vec<_>>(), ["sent"]);
    assert_eq!(by_status["sent"], mined_before_damage);
}
