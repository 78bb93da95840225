//! Mines network indicators from malware-sandbox packet captures.
//!
//! `pcap-miner` reads pcap and pcapng files and reports the four kinds of
//! network indicator that MWDB stores as attributes:
//!
//! | key | value |
//! |---|---|
//! | `network-http` | full URI of every HTTP/1.x request, `http://evil.example/gate.php` |
//! | `network-tcp` | contacted endpoint of every TCP connection, `104.21.1.61:80`, `[2001:db8::1]:443` |
//! | `network-sni` | TLS ClientHello server name and server port, `evil.example:443` |
//! | `network-dns` | DNS query name, `evil.example` |
//!
//! The work runs in layers, each a module that uses only the layers before it:
//!
//! 1. [`capture`] streams packets out of the file in bounded memory;
//! 2. [`decode`] strips link layers, VLAN and MPLS tags and tunnels, and
//!    rebuilds IP fragments, down to TCP segments and UDP datagrams;
//! 3. [`flow`] tracks TCP connections, decides client and server, and
//!    reassembles the client's byte stream;
//! 4. [`app`] finds HTTP requests, TLS ClientHellos (over TCP and in QUIC
//!    Initial packets) and DNS queries by content, and decrypts TLS sessions
//!    whose secrets are in the [`keylog`] so the HTTPS requests inside count;
//! 5. [`indicators`] turns findings into de-duplicated, sorted values, and
//!    [`config`] filters them as the original Karton service did;
//! 6. [`report`] writes them out.
//!
//! # Example
//!
//! ```no_run
//! use pcap_miner::{mine_path, Config, IndicatorKind};
//!
//! let report = match mine_path("dump.pcap".as_ref(), &Config::default()) {
//!     Ok(report) => report,
//!     Err(partial) => {
//!         eprintln!("{}", partial.error);
//!         partial.report // what was mined before the damage
//!     }
//! };
//! for uri in report.indicators.get(IndicatorKind::Http) {
//!     println!("{uri}");
//! }
//! ```
//!
//! # Not supported
//!
//! HTTP/2 and HTTP/3 requests, DNS over HTTPS, and DNS on ports other than
//! 53, 5353 and 5355 are not reported. A TLS session is decrypted only when
//! [`Config::key_log`] contains its secrets, and QUIC traffic after the Initial
//! packets is not decrypted.
//!
//! The library logs nothing by itself; it emits `tracing` events that a
//! caller may subscribe to.

#![forbid(unsafe_code)]

pub mod app;
pub mod capture;
pub mod config;
pub mod decode;
pub mod flow;
pub mod indicators;
pub mod keylog;
mod miner;
mod parallel;
pub mod report;

pub use config::{Config, ConfigError, DroppedKind, IgnoreList};
pub use indicators::{IndicatorKind, IndicatorSets};
pub use miner::{
    mine_path, mine_reader, MineError, MineReport, MineResult, MineStats, Miner, PartialReport,
};
