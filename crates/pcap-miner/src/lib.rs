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
//! # How each value is written
//!
//! Every kind is a set: values are de-duplicated and sorted by their bytes.
//!
//! - `network-tcp`: one value per connection, `a.b.c.d:port` or `[v6]:port`
//!   (RFC 5952 form). The client is the side that sent the first SYN without
//!   ACK, else the receiver of the first SYN-ACK, else (capture started
//!   mid-connection) the side with the higher port, and with equal ports the
//!   source of the first packet. The server is reported, unless
//!   [`Config::vm_networks`] holds exactly one side: then the other side is.
//!   Unanswered and refused connections count.
//! - `network-http`: one value per HTTP/1.x request on any TCP port or in a UDP
//!   datagram. A request line is `METHOD target HTTP/d.d`; `METHOD target` and a
//!   lone `METHOD` count when header lines follow. Origin-form targets get
//!   `http://` (or `https://` when decrypted) and the first Host header as
//!   sent, or the server address (with `:port` unless 80/443) when Host is
//!   missing or empty; absolute-form and authority-form (`h:443`) targets are
//!   kept as sent; `*` and other targets are appended to the authority. Bytes
//!   outside `0x21..=0x7e` are written `%XX`.
//! - `network-sni`: every host_name of the `server_name` extension of every
//!   ClientHello (TCP, after STARTTLS or CONNECT, or QUIC Initial), then
//!   `:port` of the server. Names are kept as sent; bytes outside
//!   `0x21..=0x7e` are written `\DDD`.
//! - `network-dns`: every question name of every query (QR clear) on ports
//!   53, 5353 and 5355, over UDP and TCP, in presentation form without the
//!   trailing dot: `.` inside a label as `\.`, `\` as `\\`, other bytes
//!   outside `0x21..=0x7e` as `\DDD`. The root name and names with looping or
//!   forward compression pointers are not reported.
//!
//! No checksum is verified. Packets quoted inside ICMP errors are copies, not
//! traffic, and are not mined.
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
mod shard;

pub use config::{Config, ConfigError, DroppedKind, IgnoreList, DEFAULT_CHUNK_LEN};
pub use indicators::{IndicatorKind, IndicatorSets};
pub use miner::{
    mine_file, mine_path, mine_reader, MineError, MineReport, MineResult, MineStats, Miner,
    PartialReport,
};
