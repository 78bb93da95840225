//! The project's own captures in corpus/ against their `expected.json`.

use pcap_miner::{mine_path, Config};

use crate::util::{capture_in, corpus_dirs, diff, key_log_in, read_expected, repo_root};

#[test]
fn own_corpus_matches_expected() {
    let dirs = corpus_dirs(&repo_root().join("corpus"));
    assert!(
        dirs.len() >= 4,
        "expected the project's captures in corpus/, found {}",
        dirs.len()
    );
    let config = Config {
        max_results: None,
        ..Config::default()
    };

    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let config = Config {
            key_log: key_log_in(dir),
            ..config.clone()
        };
        // A damaged capture names, in `damaged.txt`, text its error must contain.
        let damage = std::fs::read_to_string(dir.join("damaged.txt")).ok();
        let report = match (mine_path(&capture_in(dir), &config), damage) {
            (Ok(report), None) => report,
            (Ok(report), Some(_)) => {
                failures.push(format!("{name}: damaged capture read without an error"));
                report
            }
            (Err(partial), Some(damage)) if partial.error.to_string().contains(damage.trim()) => {
                partial.report
            }
            (Err(partial), _) => {
                failures.push(format!("{name}: {}", partial.error));
                partial.report
            }
        };
        for (kind, kind_diff) in diff(
            &report.indicators,
            &read_expected(&dir.join("expected.json")),
        ) {
            failures.extend(
                kind_diff
                    .missing
                    .iter()
                    .map(|v| format!("{name}: {kind} missing {v:?}")),
            );
            failures.extend(
                kind_diff
                    .unexpected
                    .iter()
                    .map(|v| format!("{name}: {kind} unexpected {v:?}")),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
