//! Mining on several threads gives what one thread gives: the same values
//! with the same packet numbers, the same counters and the same error, from a
//! file and from a stream, whatever the chunk size.

use std::path::{Path, PathBuf};

use pcap_miner::{mine_path, mine_reader, Config, MineResult};

use crate::shared_corpus::shared_corpus;
use crate::util::{capture_in, corpus_dirs, repo_root, unlimited};

/// Everything a run reports, in comparable form.
type Outcome = (String, String, String, Option<String>);

fn outcome(result: MineResult) -> Outcome {
    let (report, error) = match result {
        Ok(report) => (report, None),
        Err(partial) => (partial.report, Some(partial.error.to_string())),
    };
    (
        format!("{:?}", report.indicators),
        format!("{:?}", report.stats),
        format!("{:?}", report.dropped),
        error,
    )
}

fn with_threads(config: &Config, threads: usize, chunk_len: usize) -> Config {
    Config {
        threads,
        chunk_len,
        ..config.clone()
    }
}

/// Chunk sizes that cut records and put many chunks in a small capture, and the default.
const CHUNK_LENS: [usize; 3] = [1_500, 65_536, pcap_miner::DEFAULT_CHUNK_LEN];

/// Asserts that mining `bytes` (also written at `path`) on 2 and 3 threads,
/// as a file and as a stream, equals mining it on one thread.
pub fn assert_threads_agree(bytes: &[u8], path: &Path, config: &Config) {
    let one_thread = outcome(mine_reader(bytes, path, config));
    for chunk_len in CHUNK_LENS {
        for threads in [2, 3] {
            let config = with_threads(config, threads, chunk_len);
            let stream = outcome(mine_reader(bytes, path, &config));
            assert_eq!(
                stream,
                one_thread,
                "{}: stream on {threads} threads, chunks of {chunk_len} bytes",
                path.display()
            );
            let file = outcome(mine_path(path, &config));
            assert_eq!(
                file,
                one_thread,
                "{}: file on {threads} threads, chunks of {chunk_len} bytes",
                path.display()
            );
        }
    }
}

/// Writes `bytes` to a fresh file and checks that threads agree on it.
pub fn assert_threads_agree_on_bytes(bytes: &[u8], config: &Config) {
    let dir = std::env::temp_dir().join(format!("pcap-miner-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("capture-{:x}.pcap", fingerprint(bytes)));
    std::fs::write(&path, bytes).unwrap();
    assert_threads_agree(bytes, &path, config);
    std::fs::remove_file(&path).unwrap();
}

fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn captures_under(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            captures_under(&path, into);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "pcap" || extension == "pcapng")
            || path
                .parent()
                .is_some_and(|parent| parent.ends_with("pipeline"))
        {
            into.push(path);
        }
    }
}

#[test]
fn threads_agree_on_own_corpus_and_fuzz_regressions() {
    let mut captures = Vec::new();
    captures_under(&repo_root().join("corpus"), &mut captures);
    assert!(captures.len() >= 11, "found only {captures:?}");
    for capture in captures {
        let bytes = std::fs::read(&capture).unwrap();
        assert_threads_agree(&bytes, &capture, &unlimited());
        // A small result limit exercises the kinds dropped whole.
        let limited = Config {
            max_results: Some(1),
            ..Config::default()
        };
        assert_threads_agree(&bytes, &capture, &limited);
    }
}

#[test]
fn threads_agree_on_shared_corpus() {
    let Some(corpus) = shared_corpus() else {
        assert!(
            !crate::util::in_ci(),
            "shared corpus not found beside the repository"
        );
        eprintln!("SKIPPED threads_agree_on_shared_corpus: no shared corpus");
        return;
    };
    let dirs = corpus_dirs(&corpus);
    assert!(dirs.len() >= 80, "found {} captures", dirs.len());
    for dir in dirs {
        let capture = capture_in(&dir);
        let bytes = std::fs::read(&capture).unwrap();
        assert_threads_agree(&bytes, &capture, &unlimited());
    }
}
