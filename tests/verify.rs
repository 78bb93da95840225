//! `pcap-miner verify` over saved and live tshark outputs, with captures
//! built to hit one class of difference each, and `mine --format tshark`.
//!
//! Tests that run tshark skip with a message when it is not installed,
//! unless `PCAP_MINER_REQUIRE_TSHARK` is set (the verify test step sets it).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::pcapgen::{
    addr, client_hello, dns_query, frames, ip, pcap, tls_records, udp_packet, Endian, Precision,
    TcpConnection, LINKTYPE_ETHERNET,
};
use crate::util::{capture_in, corpus_dirs, repo_root};

/// Classes whose differences are gaps of pcap-miner rather than tshark behaviour.
const GAP_CLASSES: [&str; 2] = ["needs-quic-decryption", "needs-keylog-decryption"];

/// What one `verify --format json` run returned.
struct Run {
    status: i32,
    report: Value,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Returns `(class, value)` of every difference on one side (`only_tshark` or `only_pcap_miner`) of a kind.
    fn classes(&self, kind: &str, side: &str) -> BTreeSet<(String, String)> {
        self.report["kinds"][kind][side]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                (
                    entry["class"].as_str().unwrap_or_default().to_string(),
                    entry["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Returns every unexplained difference as `kind value: evidence`.
    fn unexplained(&self) -> Vec<String> {
        self.differences()
            .filter(|(_, _, entry)| entry["verdict"] == "unexplained")
            .map(|(kind, _, entry)| format!("{kind} {}: {}", entry["value"], entry["evidence"]))
            .collect()
    }

    /// Returns every difference with its kind and side.
    fn differences(&self) -> impl Iterator<Item = (String, &'static str, &Value)> {
        let kinds = self.report["kinds"].as_object().into_iter().flatten();
        kinds.flat_map(|(kind, sides)| {
            ["only_tshark", "only_pcap_miner"]
                .into_iter()
                .flat_map(move |side| {
                    let entries = sides[side].as_array().into_iter().flatten();
                    entries.map(move |entry| (kind.clone(), side, entry))
                })
        })
    }

    /// Returns the class of every difference as `(kind, side, class)`.
    fn class_list(&self) -> BTreeSet<(String, String, String)> {
        self.differences()
            .map(|(kind, side, entry)| {
                let class = entry["class"].as_str().unwrap_or_default();
                (kind, side.to_string(), class.to_string())
            })
            .collect()
    }
}

fn pcap_miner<I, S>(arguments: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(env!("CARGO_BIN_EXE_pcap-miner"))
        .args(arguments)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Run {
        status: output.status.code().unwrap_or(-1),
        report: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `verify --format json` on a capture with extra arguments.
fn verify(capture: &Path, extra: &[&OsStr]) -> Run {
    let mut arguments: Vec<&OsStr> = vec![
        OsStr::new("verify"),
        capture.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ];
    arguments.extend_from_slice(extra);
    pcap_miner(arguments)
}

fn shared_corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("PCAP_MINER_SHARED_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/corpus"));
    if dir.is_dir() {
        return Some(dir);
    }
    // CI always has the shared corpus beside the clone; a missing one there is a failure.
    assert!(
        !crate::util::in_ci(),
        "shared corpus not found at {}",
        dir.display()
    );
    eprintln!("SKIPPED: shared corpus not found at {}", dir.display());
    None
}

/// Returns true when tshark runs; without it, skips the test or fails where it is required.
///
/// `PCAP_MINER_SKIP_TSHARK` skips these tests even with tshark installed: the
/// verify test step runs them, so the general cargo step need not run them twice.
fn tshark_available(test: &str) -> bool {
    if std::env::var_os("PCAP_MINER_SKIP_TSHARK").is_some()
        && std::env::var_os("PCAP_MINER_REQUIRE_TSHARK").is_none()
    {
        eprintln!("SKIPPED {test}: PCAP_MINER_SKIP_TSHARK is set");
        return false;
    }
    let runs = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if runs {
        return true;
    }
    assert!(
        std::env::var_os("PCAP_MINER_REQUIRE_TSHARK").is_none(),
        "{test}: tshark is required (PCAP_MINER_REQUIRE_TSHARK is set) but does not run"
    );
    eprintln!("SKIPPED {test}: tshark is not installed");
    false
}

/// A folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "pcap-miner-verify-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("extra")).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the saved tshark outputs of a shared corpus capture, so a test can change them.
fn copy_reference(from: &Path, to: &Path) {
    for name in [
        "conv_tcp.txt",
        "extra/http_requests.tsv",
        "extra/client_hellos.tsv",
        "extra/dns_queries.tsv",
        "extra/tcp_streams.tsv",
    ] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

/// Reads `differences.json`: `(kind, side, class, value)` of every value difference.
fn reference_differences(dir: &Path) -> BTreeSet<(String, String, String, String)> {
    let text = std::fs::read_to_string(dir.join("differences.json")).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    entries
        .iter()
        // Conversations without a SYN are listed as ambiguous pairs, not as values.
        .filter(|entry| entry["kind"] != "network-tcp-ambiguous")
        .map(|entry| {
            let side = if entry["in"] == "expected" {
                "only_pcap_miner"
            } else {
                "only_tshark"
            };
            (
                entry["kind"].as_str().unwrap().to_string(),
                side.to_string(),
                entry["rule"].as_str().unwrap().to_string(),
                entry["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Reads the `needs` column of the shared corpus's `manifest.tsv`, by capture name.
fn corpus_needs(corpus: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus.join("manifest.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let needs = header.iter().position(|column| *column == "needs").unwrap();
    lines
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            (columns[0].to_string(), columns[needs].to_string())
        })
        .collect()
}

/// Checks one verify run of a shared corpus capture; returns the problems found.
fn check_corpus_run(dir: &Path, run: &Run, needs: &BTreeMap<String, String>) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let mut problems = Vec::new();
    if run.status != 0 {
        problems.push(format!(
            "{name}: exit status {}: {}",
            run.status,
            run.stderr.trim()
        ));
    }
    for unexplained in run.unexplained() {
        problems.push(format!("{name}: unexplained {unexplained}"));
    }
    for (kind, side, class, value) in reference_differences(dir) {
        if !run
            .classes(&kind, &side)
            .contains(&(class.clone(), value.clone()))
        {
            problems.push(format!(
                "{name}: {kind} {value:?} not classified {class} in {side}"
            ));
        }
    }
    for (kind, _, entry) in run.differences() {
        let class = entry["class"].as_str().unwrap_or_default();
        if GAP_CLASSES.contains(&class) {
            eprintln!("KNOWN GAP {name}: {kind} {} ({class})", entry["value"]);
            let need = needs.get(&name).map(String::as_str).unwrap_or("-");
            if need == "-" {
                problems.push(format!(
                    "{name}: gap {class} on a capture that needs no decryption"
                ));
            }
        }
    }
    problems
}

#[test]
fn reference_corpus_reproduces_differences() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let needs = corpus_needs(&corpus);
    let dirs = corpus_dirs(&corpus);
    assert!(
        dirs.len() >= 80,
        "only {} captures in {}",
        dirs.len(),
        corpus.display()
    );

    let mut problems = Vec::new();
    for dir in &dirs {
        let run = verify(
            &capture_in(dir),
            &[OsStr::new("--reference"), dir.as_os_str()],
        );
        problems.extend(check_corpus_run(dir, &run, &needs));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn tshark_corpus_has_no_unexplained() {
    if !tshark_available("tshark_corpus_has_no_unexplained") {
        return;
    }
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let needs = corpus_needs(&corpus);
    let shared = corpus_dirs(&corpus);
    let own = corpus_dirs(&repo_root().join("corpus"));
    assert!(!own.is_empty(), "no capture in corpus/");

    let run_dir = |dir: &PathBuf| -> Vec<String> {
        // An NSS key log, or a DRAKVUF tlsmon log that verify converts for tshark.
        let keylog = ["keylog.txt", "tlsmon.log"]
            .map(|name| dir.join(name))
            .into_iter()
            .find(|path| path.exists());
        let mut extra: Vec<&OsStr> = Vec::new();
        if let Some(keylog) = &keylog {
            extra.extend([OsStr::new("--keylog"), keylog.as_os_str()]);
        }
        let run = verify(&capture_in(dir), &extra);
        if dir.starts_with(&corpus) {
            check_corpus_run(dir, &run, &needs)
        } else {
            let name = dir.display();
            let mut problems: Vec<String> = run
                .unexplained()
                .into_iter()
                .map(|unexplained| format!("{name}: unexplained {unexplained}"))
                .collect();
            if run.status != 0 {
                problems.push(format!(
                    "{name}: exit status {}: {}",
                    run.status,
                    run.stderr.trim()
                ));
            }
            problems
        }
    };

    // Two workers: each verify run starts five tshark processes.
    let dirs: Vec<PathBuf> = shared.into_iter().chain(own).collect();
    let (first, second) = dirs.split_at(dirs.len() / 2);
    let problems: Vec<String> = std::thread::scope(|scope| {
        let workers = [first, second]
            .map(|half| scope.spawn(move || half.iter().flat_map(run_dir).collect::<Vec<_>>()));
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Returns the shared corpus folder of one capture, or `None` (skipped) without the corpus.
fn shared_capture(name: &str) -> Option<PathBuf> {
    Some(shared_corpus()?.join(name))
}

#[test]
fn fabricated_tshark_value_fails_loudly() {
    let Some(source) = shared_capture("zeek-http-get") else {
        return;
    };
    let dir = TempDir::new("fabricated");
    copy_reference(&source, &dir.0);
    let dns = dir.0.join("extra/dns_queries.tsv");
    let mut text = std::fs::read_to_string(&dns).unwrap();
    text.push_str("9\tfabricated.example.invalid\t53\t\n");
    std::fs::write(&dns, text).unwrap();

    let capture = capture_in(&source);
    let run = verify(&capture, &[OsStr::new("--reference"), dir.0.as_os_str()]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("unexplained"), "{}", run.stderr);
    let classes = run.classes("network-dns", "only_tshark");
    let expected = (
        "unexplained".to_string(),
        "fabricated.example.invalid".to_string(),
    );
    assert!(classes.contains(&expected), "{classes:?}");

    let text = pcap_miner([
        OsStr::new("verify"),
        capture.as_os_str(),
        OsStr::new("--reference"),
        dir.0.as_os_str(),
    ]);
    assert_eq!(text.status, 1);
    assert!(text.stdout.contains("UNEXPLAINED"), "{}", text.stdout);
}

#[test]
fn hidden_request_with_host_not_excused() {
    let Some(source) = shared_capture("zeek-http-pipelined") else {
        return;
    };
    let dir = TempDir::new("hidden-request");
    copy_reference(&source, &dir.0);
    // tshark "misses" one request that has a Host header, on port 80 where it decodes others.
    let requests = dir.0.join("extra/http_requests.tsv");
    let text = std::fs::read_to_string(&requests).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() >= 2,
        "zeek-http-pipelined has fewer than two requests"
    );
    let hidden_uri = lines[0].split('\t').nth(1).unwrap().to_string();
    let remaining: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.split('\t').nth(1) != Some(hidden_uri.as_str()))
        .collect();
    assert!(
        !remaining.is_empty(),
        "every request of zeek-http-pipelined has the same URI"
    );
    std::fs::write(&requests, remaining.join("\n") + "\n").unwrap();

    let run = verify(
        &capture_in(&source),
        &[OsStr::new("--reference"), dir.0.as_os_str()],
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let classes = run.classes("network-http", "only_pcap_miner");
    assert_eq!(
        classes,
        BTreeSet::from([("unexplained".to_string(), hidden_uri)])
    );
}

#[test]
fn responder_swapped_not_excused() {
    let Some(source) = shared_capture("zeek-http-get") else {
        return;
    };
    let dir = TempDir::new("swapped");
    copy_reference(&source, &dir.0);
    // tshark "names" the client as responder, although its SYN went to the server.
    let streams = dir.0.join("extra/tcp_streams.tsv");
    let text = std::fs::read_to_string(&streams).unwrap();
    let mut swapped = None;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut columns: Vec<&str> = line.split('\t').collect();
            if swapped.is_none() && !line.starts_with('#') && columns[4] != "-" {
                swapped = Some((columns[2].to_string(), columns[5].to_string()));
                columns[5] = columns[2];
            }
            columns.join("\t")
        })
        .collect();
    std::fs::write(&streams, lines.join("\n") + "\n").unwrap();
    let (client, server) = swapped.expect("zeek-http-get has a conversation with a SYN");

    let run = verify(
        &capture_in(&source),
        &[OsStr::new("--reference"), dir.0.as_os_str()],
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let only_tshark = run.classes("network-tcp", "only_tshark");
    assert!(
        only_tshark.contains(&("unexplained".to_string(), client.clone())),
        "{only_tshark:?}"
    );
    let ours = run.classes("network-tcp", "only_pcap_miner");
    let server_in_other_conversation = ours.is_empty();
    assert!(
        server_in_other_conversation || ours.contains(&("unexplained".to_string(), server)),
        "{ours:?}"
    );
}

#[test]
fn tshark_missing_exits_2() {
    let capture = repo_root().join("corpus/http-curl/capture.pcap");
    let run = verify(
        &capture,
        &[OsStr::new("--tshark"), OsStr::new("/nonexistent/tshark")],
    );
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("cannot run /nonexistent/tshark"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--reference"), "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn tshark_failure_prints_its_stderr() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("failing-tshark");
    let program = dir.0.join("tshark");
    std::fs::write(
        &program,
        "#!/bin/sh\necho 'tshark: simulated failure' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();

    let capture = repo_root().join("corpus/http-curl/capture.pcap");
    let run = verify(&capture, &[OsStr::new("--tshark"), program.as_os_str()]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("simulated failure"), "{}", run.stderr);
}

#[test]
fn missing_capture_names_file() {
    let dir = TempDir::new("missing-capture");
    let capture = dir.0.join("nothing-here.pcap");
    // A tshark that cannot run shows that the capture is checked before tshark starts.
    let run = verify(
        &capture,
        &[OsStr::new("--tshark"), OsStr::new("/nonexistent/tshark")],
    );
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("nothing-here.pcap"), "{}", run.stderr);
    assert!(run.stderr.contains("cannot open"), "{}", run.stderr);
}

#[test]
fn reference_missing_file_exits_2() {
    let dir = TempDir::new("empty-reference");
    let capture = repo_root().join("corpus/http-curl/capture.pcap");
    let run = verify(&capture, &[OsStr::new("--reference"), dir.0.as_os_str()]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("cannot read saved tshark output"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------
// Captures built to hit one class each; tshark gives the other side.

const CLIENT: &str = "10.0.0.5:49152";

/// Writes IP packets as an Ethernet pcap file in `dir`.
fn write_capture(dir: &TempDir, name: &str, packets: &[Vec<u8>]) -> PathBuf {
    let capture = pcap(
        LINKTYPE_ETHERNET,
        Endian::Little,
        Precision::Micro,
        &frames(LINKTYPE_ETHERNET, packets),
    );
    let path = dir.0.join(format!("{name}.pcap"));
    std::fs::write(&path, capture.bytes).unwrap();
    path
}

/// Returns a connection that sends `stream` in segments of `size` bytes, in the given order of segment indexes.
fn connection(server: &str, stream: &[u8], size: usize, order: &[usize]) -> Vec<Vec<u8>> {
    let connection = TcpConnection::new(addr(CLIENT), addr(server));
    let segments = connection.client_segments(stream, size);
    let mut packets = connection.handshake();
    if order.is_empty() {
        packets.extend(segments);
    } else {
        packets.extend(order.iter().map(|&index| segments[index].clone()));
    }
    packets.push(connection.client_fin(stream.len()));
    packets
}

/// Returns an ICMP port-unreachable message from `from` quoting `packet`.
fn icmp_quoting(from: &str, packet: &[u8]) -> Vec<u8> {
    const PROTOCOL_ICMP: u8 = 1;
    let mut message = vec![3, 3, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(packet);
    ip(addr(from).ip(), addr(CLIENT).ip(), PROTOCOL_ICMP, &message)
}

/// A capture built to hit some classes of difference.
struct Built {
    name: &'static str,
    packets: Vec<Vec<u8>>,
    arguments: Vec<&'static str>,
    /// `(kind, side, class)` of every difference verify must report.
    expected: BTreeSet<(String, String, String)>,
}

impl Built {
    fn new(name: &'static str, packets: Vec<Vec<u8>>) -> Self {
        Built {
            name,
            packets,
            arguments: Vec::new(),
            expected: BTreeSet::new(),
        }
    }

    fn arguments(mut self, arguments: &[&'static str]) -> Self {
        self.arguments = arguments.to_vec();
        self
    }

    fn expect(mut self, classes: &[(&str, &str, &str)]) -> Self {
        self.expected = classes
            .iter()
            .map(|(kind, side, class)| (kind.to_string(), side.to_string(), class.to_string()))
            .collect();
        self
    }
}

#[test]
fn built_captures_classified() {
    if !tshark_available("built_captures_classified") {
        return;
    }
    let dir = TempDir::new("built");
    let request = b"GET /a HTTP/1.1\r\nHost: built.example\r\nUser-Agent: t\r\n\r\n";
    let query = dns_query(0x1111, &["odd-port.example"]);
    let quoted_query = udp_packet(
        addr(CLIENT),
        addr("192.0.2.53:53"),
        &dns_query(7, &["quoted.example"]),
    );
    let quoted_request = connection("192.0.2.80:80", request, 1000, &[])[3].clone();
    // One question whose first label contains a dot and a control byte.
    let mut escaped_query = dns_query(0x2222, &[]);
    escaped_query[5] = 1;
    escaped_query.extend_from_slice(b"\x05a.b\x01c\x07example\x00\x00\x01\x00\x01");
    let mut starttls = b"STARTTLS\r\n".to_vec();
    starttls.extend(tls_records(&client_hello("irc.example"), 1000));

    let cases = [
        Built::new("agree", connection("192.0.2.80:80", request, 1000, &[])),
        Built::new(
            "no-host",
            connection(
                "192.0.2.80:80",
                b"GET /n HTTP/1.1\r\nAccept: */*\r\n\r\n",
                1000,
                &[],
            ),
        )
        .expect(&[("network-http", "only_pcap_miner", "http-no-host")]),
        Built::new(
            "empty-host",
            connection(
                "192.0.2.80:80",
                b"GET /e HTTP/1.1\r\nHost:\r\n\r\n",
                1000,
                &[],
            ),
        )
        .expect(&[
            ("network-http", "only_pcap_miner", "http-empty-host"),
            ("network-http", "only_tshark", "http-empty-host"),
        ]),
        Built::new(
            "out-of-order",
            connection("192.0.2.80:80", request, 20, &[1, 0, 2]),
        )
        .expect(&[("network-http", "only_pcap_miner", "http-out-of-order")]),
        Built::new("ssh-port", connection("192.0.2.22:22", request, 1000, &[])).expect(&[(
            "network-http",
            "only_pcap_miner",
            "http-other-port",
        )]),
        Built::new(
            "dns-port",
            vec![udp_packet(addr(CLIENT), addr("192.0.2.53:5300"), &query)],
        )
        .expect(&[("network-dns", "only_tshark", "dns-port")]),
        Built::new(
            "escaped-name",
            vec![udp_packet(
                addr(CLIENT),
                addr("192.0.2.53:53"),
                &escaped_query,
            )],
        )
        .expect(&[
            ("network-dns", "only_pcap_miner", "dns-escaping"),
            ("network-dns", "only_tshark", "dns-escaping"),
        ]),
        Built::new(
            "quoted",
            vec![
                icmp_quoting("192.0.2.53:0", &quoted_query),
                icmp_quoting("192.0.2.80:0", &quoted_request),
            ],
        )
        .expect(&[
            ("network-dns", "only_tshark", "dns-quoted"),
            ("network-http", "only_tshark", "http-quoted"),
        ]),
        // The ClientHello starts its own segment, after the 10-byte STARTTLS line.
        Built::new(
            "starttls",
            connection("192.0.2.67:6667", &starttls, 10, &[]),
        )
        .expect(&[("network-sni", "only_pcap_miner", "sni-content")]),
        Built::new("vm-range", connection("192.0.2.80:80", request, 1000, &[]))
            .arguments(&["--vm-ip-range", "192.0.2.0/24"])
            .expect(&[
                ("network-tcp", "only_pcap_miner", "tcp-vm-range"),
                ("network-tcp", "only_tshark", "tcp-vm-range"),
            ]),
    ];

    let mut problems = Vec::new();
    for case in cases {
        let capture = write_capture(&dir, case.name, &case.packets);
        let arguments: Vec<&OsStr> = case.arguments.iter().map(OsStr::new).collect();
        let run = verify(&capture, &arguments);
        let found = run.class_list();
        if found != case.expected || run.status != 0 {
            problems.push(format!(
                "{}: exit status {}, classes {found:?}, expected {:?}\n{}",
                case.name, run.status, case.expected, run.stdout
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// mine --format tshark

#[test]
fn mine_tshark_format_diffs_clean_against_tshark() {
    if !tshark_available("mine_tshark_format_diffs_clean_against_tshark") {
        return;
    }
    // Each case lists the lines only pcap-miner prints and those only tshark prints.
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        (Vec<&'a str>, Vec<&'a str>),
    );
    let cases: [Case<'_>; 3] = [
        (
            "dns-dig",
            "network-dns",
            &[
                "-Y",
                "dns.flags.response == 0",
                "-T",
                "fields",
                "-E",
                "occurrence=a",
                "-E",
                "aggregator=\t",
                "-e",
                "dns.qry.name",
            ],
            // A dot inside a label: pcap-miner escapes it, tshark does not.
            (
                vec!["odd\\.label.example.test"],
                vec!["odd.label.example.test"],
            ),
        ),
        (
            "http-curl",
            "network-http",
            &["-T", "fields", "-e", "http.request.full_uri"],
            // tshark gives no URI for a request without Host.
            (vec!["http://127.0.0.1:8080/nohost"], vec![]),
        ),
        (
            "http-curl",
            "network-tcp",
            &[
                "-Y",
                "tcp.flags.syn==1 && tcp.flags.ack==0",
                "-T",
                "fields",
                "-e",
                "ip.dst",
                "-e",
                "ipv6.dst",
                "-e",
                "tcp.dstport",
            ],
            (vec![], vec![]),
        ),
    ];
    for (corpus, kind, query, expected) in cases {
        let capture = capture_in(&repo_root().join("corpus").join(corpus));
        let output = Command::new("tshark")
            .args(["-q", "-n", "-r"])
            .arg(&capture)
            .args(query)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let mut theirs: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .flat_map(|line| {
                if kind == "network-dns" {
                    line.split('\t').map(str::to_string).collect::<Vec<_>>()
                } else {
                    vec![line.to_string()]
                }
            })
            .filter(|line| !line.is_empty())
            .collect();
        theirs.sort();
        theirs.dedup();

        let ours = pcap_miner([
            OsStr::new("mine"),
            capture.as_os_str(),
            OsStr::new("--quiet"),
            OsStr::new("--format"),
            OsStr::new("tshark"),
            OsStr::new("--kind"),
            OsStr::new(kind),
            OsStr::new("--vm-ip-range"),
            OsStr::new(""),
            OsStr::new("--max-results"),
            OsStr::new("-1"),
        ]);
        assert_eq!(ours.status, 0, "{}", ours.stderr);
        let ours: Vec<&str> = ours.stdout.lines().collect();
        assert!(!ours.is_empty(), "{corpus}: no {kind} value");
        let only_ours: Vec<&str> = ours
            .iter()
            .copied()
            .filter(|l| !theirs.iter().any(|t| t == l))
            .collect();
        let only_theirs: Vec<&str> = theirs
            .iter()
            .map(String::as_str)
            .filter(|l| !ours.contains(l))
            .collect();
        assert_eq!((only_ours, only_theirs), expected, "{corpus} {kind}");
    }
}

#[test]
fn mine_unknown_kind_rejected() {
    let capture = repo_root().join("corpus/http-curl/capture.pcap");
    let run = pcap_miner([
        OsStr::new("mine"),
        capture.as_os_str(),
        OsStr::new("--kind"),
        OsStr::new("network-ftp"),
    ]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("unknown kind"), "{}", run.stderr);
}
