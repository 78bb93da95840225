//! Application parsers: HTTP request heads, TLS ClientHello server names and
//! DNS questions, found by content in client streams and UDP datagrams.
//! ClientHellos are also read from QUIC Initial packets ([`quic`]), and TLS
//! sessions whose secrets are in a key log are decrypted ([`tls_decrypt`]) so
//! that the requests inside are read too.
//!
//! Parsers borrow the bytes they read and copy only what spans segments.
//! What they find comes out as [`Finding`]s, turned into indicator values by
//! the layer above.

pub mod dns;
pub mod http;
pub mod quic;
pub mod tls;
pub mod tls_decrypt;

mod datagram;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::keylog::KeyLog;

pub use datagram::mine_datagram;
pub use stream::{ClientStream, StreamLimits};

/// Largest HTTP request head read, in bytes; a longer head is cut there.
pub const MAX_HEAD_LEN: usize = 64 * 1024;

/// Ports on which DNS is read: DNS, multicast DNS and LLMNR.
pub const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

/// One thing a parser found, ready to become an indicator value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The full URI of an HTTP request, escaped.
    HttpUri(String),
    /// A TLS server name, escaped, with the server port.
    ServerName { name: String, port: u16 },
    /// A DNS query name in presentation form.
    DnsName(String),
    /// A TCP connection with its roles decided, and the number of its first packet.
    TcpConnection {
        client: SocketAddr,
        server: SocketAddr,
        first_packet: u64,
    },
}

/// Findings of the parsers in the order found, until the caller drains them,
/// with the state the parsers share across connections and datagrams.
#[derive(Debug, Default)]
pub struct Findings {
    items: Vec<Finding>,
    /// DNS names that could not be read (bad pointers, cut messages).
    pub malformed_dns_names: u64,
    /// TLS handshakes that began like a ClientHello but could not be read.
    pub malformed_client_hellos: u64,
    /// Secrets for decrypting TLS sessions; `None` leaves every session encrypted.
    pub key_log: Option<Arc<KeyLog>>,
    pub tls_decryption: tls_decrypt::TlsDecryptStats,
    /// QUIC Initial packets being joined into ClientHellos, with their counters.
    pub quic: quic::QuicInitials,
    /// Limits the stream parsers keep to.
    pub stream_limits: StreamLimits,
    /// Bytes of HTTP request heads that streams hold while waiting for their end.
    pub buffered_head_bytes: usize,
    /// Request heads read as they stood because a head limit was reached.
    pub heads_cut: u64,
}

impl Findings {
    /// Creates an empty context that decrypts TLS sessions found in `key_log`.
    pub fn with_key_log(key_log: Option<Arc<KeyLog>>) -> Self {
        Findings {
            key_log,
            ..Findings::default()
        }
    }

    /// Creates an empty context with the given key log and stream limits.
    pub fn new(key_log: Option<Arc<KeyLog>>, stream_limits: StreamLimits) -> Self {
        Findings {
            key_log,
            stream_limits,
            quic: quic::QuicInitials::with_max_connections(stream_limits.max_quic_connections),
            ..Findings::default()
        }
    }

    /// Adds one finding.
    pub fn push(&mut self, finding: Finding) {
        self.items.push(finding);
    }

    /// Tells whether nothing was found since the last [`drain`](Self::drain).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes and returns everything found so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Finding> {
        self.items.drain(..)
    }
}
