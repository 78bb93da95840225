//! Indicator sets: the four MWDB attribute kinds, de-duplicated and sorted,
//! and the filters the original service applied before reporting them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnetwork::IpNetwork;

use crate::app::Finding;

/// One kind of indicator, named by its MWDB attribute key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndicatorKind {
    Dns,
    Http,
    Sni,
    Tcp,
}

impl IndicatorKind {
    /// Every kind, in the order of their attribute keys.
    pub const ALL: [IndicatorKind; 4] = [
        IndicatorKind::Dns,
        IndicatorKind::Http,
        IndicatorKind::Sni,
        IndicatorKind::Tcp,
    ];

    /// Returns the MWDB attribute key, such as `network-http`.
    pub fn key(self) -> &'static str {
        match self {
            IndicatorKind::Dns => "network-dns",
            IndicatorKind::Http => "network-http",
            IndicatorKind::Sni => "network-sni",
            IndicatorKind::Tcp => "network-tcp",
        }
    }

    /// Returns the kind of an attribute key, if it is one of the four.
    pub fn from_key(key: &str) -> Option<Self> {
        IndicatorKind::ALL
            .into_iter()
            .find(|kind| kind.key() == key)
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Packet numbers kept per value: the lowest ones.
pub const MAX_FRAMES_PER_VALUE: usize = 8;

/// The values of each kind, sorted by their bytes, each with the numbers of
/// the first packets it was seen in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorSets {
    sets: BTreeMap<IndicatorKind, BTreeMap<String, Vec<u64>>>,
    /// Values kept per kind; a kind that reaches one more is full and takes no new value.
    max_values: Option<usize>,
}

impl IndicatorSets {
    /// Creates empty sets.
    pub fn new() -> Self {
        IndicatorSets::default()
    }

    /// Creates empty sets that keep at most `max + 1` values per kind.
    ///
    /// A kind with more values than `max_results` is dropped whole anyway, so
    /// the miner stops storing new values of a kind once it is over the limit:
    /// memory then stays bounded however many distinct values a capture holds.
    pub fn with_max_values(max: Option<usize>) -> Self {
        IndicatorSets {
            max_values: max,
            ..IndicatorSets::default()
        }
    }

    /// Adds one value; a value already present is kept once.
    pub fn insert(&mut self, kind: IndicatorKind, value: String) {
        self.sets.entry(kind).or_default().entry(value).or_default();
    }

    /// Adds one value seen in packet number `packet`.
    pub fn insert_seen(&mut self, kind: IndicatorKind, value: String, packet: u64) {
        let values = self.sets.entry(kind).or_default();
        let full = self.max_values.is_some_and(|max| values.len() > max);
        if full && !values.contains_key(&value) {
            return;
        }
        let frames = values.entry(value).or_default();
        // Sorted, so the result does not depend on the order connections end in.
        if let Err(at) = frames.binary_search(&packet) {
            if at < MAX_FRAMES_PER_VALUE {
                frames.insert(at, packet);
                frames.truncate(MAX_FRAMES_PER_VALUE);
            }
        }
    }

    /// Adds every value of `other`, keeping the lowest packet numbers of both.
    pub fn merge(&mut self, other: IndicatorSets) {
        for (kind, values) in other.sets {
            for (value, frames) in values {
                if frames.is_empty() {
                    self.insert(kind, value.clone());
                }
                for packet in frames {
                    self.insert_seen(kind, value.clone(), packet);
                }
            }
        }
    }

    /// Returns the values of one kind in byte order (empty when none were found).
    pub fn get(&self, kind: IndicatorKind) -> impl Iterator<Item = &str> + '_ {
        self.sets
            .get(&kind)
            .into_iter()
            .flat_map(|values| values.keys())
            .map(String::as_str)
    }

    /// Returns the numbers of the first packets a value was seen in (at most [`MAX_FRAMES_PER_VALUE`]).
    pub fn frames(&self, kind: IndicatorKind, value: &str) -> &[u64] {
        self.sets
            .get(&kind)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// Returns the number of values of one kind.
    pub fn count(&self, kind: IndicatorKind) -> usize {
        self.sets.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Returns true when no kind has a value.
    pub fn is_empty(&self) -> bool {
        self.sets.values().all(BTreeMap::is_empty)
    }

    /// Returns the kinds that have values, in key order.
    pub fn kinds(&self) -> impl Iterator<Item = IndicatorKind> + '_ {
        self.sets
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(kind, _)| *kind)
    }

    /// Removes a whole kind; returns how many values it had.
    pub fn remove_kind(&mut self, kind: IndicatorKind) -> usize {
        self.sets.remove(&kind).map_or(0, |values| values.len())
    }

    /// Keeps the values of `kind` for which `keep` returns true.
    pub fn retain(&mut self, kind: IndicatorKind, mut keep: impl FnMut(&str) -> bool) {
        if let Some(values) = self.sets.get_mut(&kind) {
            values.retain(|value, _| keep(value));
        }
    }

    /// Adds a parser finding seen in packet `packet`; `vm_networks` decides
    /// which endpoint of a TCP connection is reported.
    pub fn add_finding(&mut self, finding: Finding, packet: u64, vm_networks: &[IpNetwork]) {
        let (kind, value, packet) = value_of(finding, packet, vm_networks);
        self.insert_seen(kind, value, packet);
    }
}

/// Turns a finding seen in packet `packet` into its kind, value and packet
/// number (a TCP connection carries the number of its first packet).
pub fn value_of(
    finding: Finding,
    packet: u64,
    vm_networks: &[IpNetwork],
) -> (IndicatorKind, String, u64) {
    match finding {
        Finding::HttpUri(uri) => (IndicatorKind::Http, uri, packet),
        Finding::ServerName { name, port } => {
            (IndicatorKind::Sni, format!("{name}:{port}"), packet)
        }
        Finding::DnsName(name) => (IndicatorKind::Dns, name, packet),
        Finding::TcpConnection {
            client,
            server,
            first_packet,
        } => {
            let contacted = contacted_endpoint(client, server, vm_networks);
            (IndicatorKind::Tcp, contacted.to_string(), first_packet)
        }
    }
}

/// Returns the endpoint a TCP connection reports: the side outside the VM
/// range when exactly one side is inside it, else the server.
pub fn contacted_endpoint(
    client: SocketAddr,
    server: SocketAddr,
    vm_networks: &[IpNetwork],
) -> SocketAddr {
    let in_vm = |address: IpAddr| vm_networks.iter().any(|network| network.contains(address));
    match (in_vm(client.ip()), in_vm(server.ip())) {
        (true, false) => server,
        (false, true) => client,
        _ => server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_endpoint_outside_vm_range_reported() {
        let vm: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap()];
        let vm_side: SocketAddr = "10.1.2.3:80".parse().unwrap();
        let outside: SocketAddr = "192.0.2.7:51000".parse().unwrap();
        // The VM is the server here, yet the other side is what it talked to.
        assert_eq!(contacted_endpoint(outside, vm_side, &vm), outside);
        assert_eq!(contacted_endpoint(vm_side, outside, &vm), outside);
    }

    #[test]
    fn tcp_endpoint_both_or_neither_in_range_gives_server() {
        let vm: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap()];
        let a: SocketAddr = "10.0.0.1:50000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:443".parse().unwrap();
        assert_eq!(contacted_endpoint(a, b, &vm), b);
        let c: SocketAddr = "[2001:db8::1]:50000".parse().unwrap();
        let d: SocketAddr = "[2001:db8::2]:443".parse().unwrap();
        assert_eq!(contacted_endpoint(c, d, &vm), d);
        assert_eq!(contacted_endpoint(c, d, &[]), d);
    }

    #[test]
    fn sets_stop_storing_kind_over_limit() {
        let mut sets = IndicatorSets::with_max_values(Some(2));
        for (packet, name) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            sets.insert_seen(IndicatorKind::Dns, name.to_string(), packet as u64);
        }
        // One value past the limit is kept, so the kind is known to be over it.
        assert_eq!(sets.count(IndicatorKind::Dns), 3);
        sets.insert_seen(IndicatorKind::Dns, "a".to_string(), 9);
        assert_eq!(sets.frames(IndicatorKind::Dns, "a"), [0, 9]);
        sets.insert_seen(IndicatorKind::Http, "http://x/".to_string(), 1);
        assert_eq!(sets.count(IndicatorKind::Http), 1);
    }

    #[test]
    fn tcp_endpoint_ipv6_written_in_brackets() {
        let mut sets = IndicatorSets::new();
        let client: SocketAddr = "[2001:db8::1]:50000".parse().unwrap();
        let server: SocketAddr = "[2001:db8:0:0:0:0:0:2]:443".parse().unwrap();
        let finding = Finding::TcpConnection {
            client,
            server,
            first_packet: 3,
        };
        sets.add_finding(finding, 9, &[]);
        assert_eq!(
            sets.get(IndicatorKind::Tcp).collect::<Vec<_>>(),
            ["[2001:db8::2]:443"]
        );
        assert_eq!(sets.frames(IndicatorKind::Tcp, "[2001:db8::2]:443"), [3]);
    }
}
