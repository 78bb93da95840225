//! Inputs shared by the benchmarks: a capture made by the corpus generator
//! and its ground truth.

// Each benchmark binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Returns a generated capture and its ground-truth file, generating them on first use.
///
/// `PCAP_MINER_BENCH_CAPTURE` (with `PCAP_MINER_BENCH_TRUTH`) selects another capture.
pub fn capture(size: &str) -> (PathBuf, PathBuf) {
    if let Some(path) = std::env::var_os("PCAP_MINER_BENCH_CAPTURE") {
        let truth = std::env::var_os("PCAP_MINER_BENCH_TRUTH")
            .expect("PCAP_MINER_BENCH_TRUTH must name the truth file");
        return (path.into(), truth.into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    let capture = dir.join(format!("gen-{size}-seed1.pcap"));
    let truth = dir.join(format!("gen-{size}-seed1.truth.json"));
    if !capture.exists() || !truth.exists() {
        let generator = std::env::var_os("PCAP_MINER_GEN_CAPTURE")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/tools/gen-capture"));
        let status = Command::new(&generator)
            .args(["--size", size, "--seed", "1", "-q", "--truth"])
            .arg(&truth)
            .arg("-o")
            .arg(&capture)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run the capture generator {}: {e}",
                    generator.display()
                )
            });
        assert!(status.success(), "the capture generator failed");
    }
    (capture, truth)
}

/// Returns the number of values of each kind in a ground-truth file, in the order http, tcp, sni, dns.
pub fn truth_counts(truth: &Path) -> [usize; 4] {
    let text = std::fs::read_to_string(truth).expect("read the truth file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse the truth file");
    ["http", "tcp", "sni", "dns"].map(|kind| json[kind].as_array().map_or(0, Vec::len))
}
