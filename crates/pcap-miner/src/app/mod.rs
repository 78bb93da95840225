//! Application parsers: HTTP request heads, TLS ClientHello server names and
//! DNS questions, found by content in client streams and UDP datagrams.
//!
//! Parsers borrow the bytes they read and copy only what spans segments.
//! What they find comes out as [`Finding`]s, turned into indicator values by
//! the layer above.

pub mod dns;
pub mod http;
pub mod tls;

mod datagram;
mod stream;

use std::net::SocketAddr;

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

/// What the parsers found, in the order they found it, until the caller drains it.
#[derive(Debug, Default)]
pub struct Findings {
    items: Vec<Finding>,
    /// DNS names that could not be read (bad pointers, cut messages).
    pub malformed_dns_names: u64,
    /// TLS handshakes that began like a ClientHello but could not be read.
    pub malformed_client_hellos: u64,
}

impl Findings {
    /// Adds one finding.
    pub fn push(&mut self, finding: Finding) {
        self.items.push(finding);
    }

    /// Removes and returns everything found so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Finding> {
        self.items.drain(..)
    }
}
