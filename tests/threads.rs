//! Mining on several threads gives what one thread gives: the same values
//! with the same packet numbers, the same counters and the same error, from a
//! file and from a stream, whatever the chunk size.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use pcap_miner::{mine_file, mine_path, mine_reader, Config, MineResult};

use crate::pcapgen::{
    addr, frames, pcap, values_of, Endian, Precision, TcpConnection, LINKTYPE_ETHERNET,
};
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

#[test]
fn mine_file_starts_at_first_byte() {
    let capture = repo_root().join("corpus/mixed/capture.pcapng");
    let expected = outcome(mine_path(&capture, &unlimited()));
    for threads in [1, 2] {
        let mut file = std::fs::File::open(&capture).unwrap();
        file.seek(SeekFrom::Start(24)).unwrap();
        let config = with_threads(&unlimited(), threads, pcap_miner::DEFAULT_CHUNK_LEN);
        let mined = outcome(mine_file(file, &capture, &config));
        assert_eq!(mined, expected, "{threads} threads");
    }
}

/// Returns a capture of one POST whose head arrives after `body_len` bytes of its body.
fn late_head_capture(body_len: usize) -> Vec<u8> {
    let connection = TcpConnection::new(addr("10.0.0.2:50000"), addr("192.0.2.80:80"));
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: late.example\r\nContent-Length: {body_len}\r\n\r\n"
    );
    let body = vec![b'a'; body_len];
    let mut packets = connection.handshake();
    let body_segments = body.chunks(1_400).enumerate();
    packets.extend(
        body_segments.map(|(i, chunk)| connection.client_data(head.len() + i * 1_400, chunk)),
    );
    packets.push(connection.client_data(0, head.as_bytes()));
    packets.push(connection.client_fin(head.len() + body_len));
    let frames = frames(LINKTYPE_ETHERNET, &packets);
    pcap(LINKTYPE_ETHERNET, Endian::Little, Precision::Micro, &frames).bytes
}

#[test]
fn shard_share_keeps_one_stream() {
    // 600 KB out of order fit the 1 MiB limit of one stream. An eighth of the
    // 4 MiB total would not, so each shard's share is at least that limit.
    let bytes = late_head_capture(600_000);
    let mut config = unlimited();
    config.flow_limits.max_total_buffer = 4 << 20;
    let expected = ["http://late.example/upload"];
    for threads in [1, 8] {
        let config = with_threads(&config, threads, pcap_miner::DEFAULT_CHUNK_LEN);
        let report = mine_reader(&bytes[..], Path::new("late-head.pcap"), &config).unwrap();
        let values = values_of(&report.indicators);
        assert_eq!(values["network-http"], expected, "{threads} threads");
    }
}

#[test]
fn head_budget_spent_keeps_every_uri() {
    // Each connection keeps an unfinished head until the end. The budget fits
    // 40 heads and 20 bytes, so the later heads find less room than a request
    // line and are read as their segment has them.
    let connections: Vec<TcpConnection> = (0..200u16)
        .map(|i| {
            let client = addr(&format!("10.0.0.2:{}", 20_000 + i));
            TcpConnection::new(client, addr("192.0.2.80:80"))
        })
        .collect();
    let heads: Vec<String> = (0..connections.len())
        .map(|i| format!("GET /item/{i:03} HTTP/1.1\r\nHost: many.example\r\nX-Pad: {i:0>200}\r\n"))
        .collect();
    let mut packets = Vec::new();
    for (connection, head) in connections.iter().zip(&heads) {
        packets.extend(connection.handshake());
        packets.push(connection.client_data(0, head.as_bytes()));
    }
    for (connection, head) in connections.iter().zip(&heads) {
        packets.push(connection.client_data(head.len(), b"\r\n"));
        packets.push(connection.client_fin(head.len() + 2));
    }
    let frames = frames(LINKTYPE_ETHERNET, &packets);
    let bytes = pcap(LINKTYPE_ETHERNET, Endian::Little, Precision::Micro, &frames).bytes;

    let mut config = unlimited();
    config.stream_limits.max_total_head_bytes = 40 * heads[0].len() + 20;
    for threads in [1, 3] {
        let config = with_threads(&config, threads, pcap_miner::DEFAULT_CHUNK_LEN);
        let report = mine_reader(&bytes[..], Path::new("many-heads.pcap"), &config).unwrap();
        let values = values_of(&report.indicators);
        let uris = &values["network-http"];
        assert_eq!(uris.len(), 200, "{threads} threads");
        for uri in uris {
            assert!(
                uri.starts_with("http://many.example/item/"),
                "{threads} threads: {uri}"
            );
        }
    }
}
