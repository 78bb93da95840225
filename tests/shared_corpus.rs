//! Every capture of the shared third-party corpus against its `expected.json`.

use std::path::{Path, PathBuf};

use pcap_miner::{mine_path, Config, IndicatorKind};

use crate::util::{capture_in, corpus_dirs, diff, key_log_in, read_expected, repo_root};

/// Values the miner is known to miss: printed as known gaps on every run
/// instead of failing the test. Empty while every expected value is found.
const KNOWN_GAPS: &[(&str, IndicatorKind, &str)] = &[];

/// Captures whose file is damaged: mining must stop with a located error.
const DAMAGED: &[&str] = &["sv-http-mime-truncated", "sv-tls-der-incomplete"];

/// Returns the shared corpus folder, when it is there.
pub fn shared_corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("PCAP_MINER_SHARED_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/corpus"));
    dir.is_dir().then_some(dir)
}

fn unlimited() -> Config {
    Config {
        vm_networks: Vec::new(),
        max_results: None,
        ..Config::default()
    }
}

/// The configuration of one capture: with its `keylog.txt`, when it has one,
/// as the reference outputs were made with it.
fn config_for(dir: &Path) -> Config {
    Config {
        key_log: key_log_in(dir),
        ..unlimited()
    }
}

#[test]
fn shared_corpus_matches_expected() {
    let Some(corpus) = shared_corpus() else {
        // CI always has the shared corpus beside the clone; a missing one there is a failure.
        assert!(
            !crate::util::in_ci(),
            "shared corpus not found beside the repository"
        );
        eprintln!(
            "SKIPPED shared_corpus_matches_expected: no shared corpus (set PCAP_MINER_SHARED_CORPUS or place ../shared/corpus beside the clone)"
        );
        return;
    };
    let dirs = corpus_dirs(&corpus);
    assert!(
        dirs.len() >= 80,
        "expected at least 80 captures in {}, found {}",
        corpus.display(),
        dirs.len()
    );

    let mut failures = Vec::new();
    let mut known = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let capture = capture_in(dir);
        let (report, error) = match mine_path(&capture, &config_for(dir)) {
            Ok(report) => (report, None),
            Err(partial) => (partial.report, Some(partial.error)),
        };
        match (&error, DAMAGED.contains(&name.as_str())) {
            (Some(error), false) => failures.push(format!("{name}: unexpected error: {error}")),
            (None, true) => failures.push(format!("{name}: damaged capture read without an error")),
            _ => {}
        }

        let expected = read_expected(&dir.join("expected.json"));
        for (kind, kind_diff) in diff(&report.indicators, &expected) {
            let gap = KNOWN_GAPS
                .iter()
                .find(|(capture, k, _)| *capture == name && *k == kind);
            for value in &kind_diff.missing {
                match gap {
                    Some((_, _, reason)) => {
                        known.push(format!("{name}: {kind} missing {value:?} (needs {reason})"))
                    }
                    None => failures.push(format!("{name}: {kind} missing {value:?}")),
                }
            }
            for value in &kind_diff.unexpected {
                failures.push(format!("{name}: {kind} unexpected {value:?}"));
            }
        }
    }

    for line in &known {
        eprintln!("KNOWN GAP {line}");
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
