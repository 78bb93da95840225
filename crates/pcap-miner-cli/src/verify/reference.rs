//! Saved tshark outputs, read in place of running tshark.
//!
//! The folder layout is the one of a capture folder in the shared test
//! corpus: `conv_tcp.txt` (`-z conv,tcp`) and, under `extra/`, tab-separated
//! field outputs that start with `frame.number`:
//!
//! | file | fields after `frame.number` |
//! |---|---|
//! | `http_requests.tsv` | `http.request.full_uri`, `http.host`, `http.request.uri`, `http.request.method`, `tcp.dstport`, `udp.dstport` |
//! | `client_hellos.tsv` | `tls.handshake.extensions_server_name`, `tcp.dstport`, `udp.dstport` |
//! | `dns_queries.tsv` | `dns.qry.name`, `udp.dstport`, `tcp.dstport` |
//! | `tcp_streams.tsv` | one line per conversation: first frame, ends of its first packet, first SYN frame and responder, first SYN-ACK frame and sender |
//!
//! All were made with `-E occurrence=a` and a tab as aggregator.

use std::fmt;
use std::path::{Path, PathBuf};

use super::tables::{RawOutputs, RowLayout, TcpSource};

/// Files read from a reference folder, relative to it.
pub const FILES: [&str; 5] = [
    "conv_tcp.txt",
    "extra/http_requests.tsv",
    "extra/client_hellos.tsv",
    "extra/dns_queries.tsv",
    "extra/tcp_streams.tsv",
];

/// A reference file is missing or unreadable.
#[derive(Debug)]
pub struct ReferenceError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read saved tshark output {}: {} (--reference expects conv_tcp.txt and \
             extra/http_requests.tsv, client_hellos.tsv, dns_queries.tsv, tcp_streams.tsv)",
            self.path.display(),
            self.source
        )
    }
}

/// Reads the outputs saved in `dir`.
pub fn read(dir: &Path) -> Result<RawOutputs, ReferenceError> {
    let [conv_tcp, http, client_hellos, dns, tcp_streams] = FILES.map(|name| read_file(dir, name));
    let http_requests = http?;
    Ok(RawOutputs {
        http: (http_requests.clone(), RowLayout::REQUEST_TABLE),
        http_every_frame: false,
        http_requests,
        stopped_early: false,
        conv_tcp: conv_tcp?,
        client_hellos: client_hellos?,
        dns: (dns?, RowLayout::VALUES_AND_PORTS),
        tcp: TcpSource::Streams(tcp_streams?),
    })
}

/// Returns the tshark version recorded in the folder's `meta.json`, if there is one.
pub fn version(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("meta.json")).ok()?;
    let meta: serde_json::Value = serde_json::from_str(&text).ok()?;
    meta.get("tshark_version")?.as_str().map(str::to_string)
}

fn read_file(dir: &Path, name: &str) -> Result<String, ReferenceError> {
    let path = dir.join(name);
    std::fs::read(&path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|source| ReferenceError { path, source })
}
