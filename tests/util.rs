//! Helpers shared by the integration tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pcap_miner::{Config, IndicatorKind, IndicatorSets};

/// Returns the default configuration without a limit on values per kind.
pub fn unlimited() -> Config {
    Config {
        max_results: None,
        ..Config::default()
    }
}

/// Returns the repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Reads an `expected.json`: every kind as a set of values.
pub fn read_expected(path: &Path) -> Vec<(IndicatorKind, BTreeSet<String>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    IndicatorKind::ALL
        .into_iter()
        .map(|kind| {
            let values = json[kind.key()]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (kind, values)
        })
        .collect()
}

/// Differences of one kind between what was mined and what was expected.
#[derive(Debug, Default)]
pub struct KindDiff {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
}

/// Compares mined indicators with expected ones, kind by kind.
pub fn diff(
    mined: &IndicatorSets,
    expected: &[(IndicatorKind, BTreeSet<String>)],
) -> Vec<(IndicatorKind, KindDiff)> {
    expected
        .iter()
        .map(|(kind, want)| {
            let got: BTreeSet<String> = mined.get(*kind).map(str::to_string).collect();
            let diff = KindDiff {
                missing: want.difference(&got).cloned().collect(),
                unexpected: got.difference(want).cloned().collect(),
            };
            (*kind, diff)
        })
        .collect()
}

/// Returns the capture file of a corpus folder.
pub fn capture_in(dir: &Path) -> PathBuf {
    for name in ["capture.pcap", "capture.pcapng"] {
        let path = dir.join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{}: no capture.pcap or capture.pcapng", dir.display());
}

/// Reads the key log of a corpus folder, `keylog.txt` (NSS format) or
/// `tlsmon.log` (DRAKVUF), when it has one; every line must be usable.
pub fn key_log_in(dir: &Path) -> Option<std::sync::Arc<pcap_miner::keylog::KeyLog>> {
    let path = ["keylog.txt", "tlsmon.log"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())?;
    let parsed = pcap_miner::keylog::KeyLog::from_file(&path).unwrap();
    assert!(
        parsed.warnings.is_empty(),
        "{}: {:?}",
        path.display(),
        parsed.warnings
    );
    Some(std::sync::Arc::new(parsed.key_log))
}

/// Returns the sub-folders of `dir` that hold an `expected.json`, sorted.
pub fn corpus_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("expected.json").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Returns true when running in CI (the `CI` variable is set and not empty).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}
