//! Link, network and tunnel decoding: from a captured frame to TCP segments
//! and UDP datagrams with their innermost addresses.
//!
//! Decoding never fails as a whole: a frame that cannot be decoded is counted
//! in [`DecodeStats`] and skipped. Packets quoted inside ICMP errors are not
//! decoded, because they are copies of earlier traffic, not traffic.

mod defrag;
mod ip;
mod link;
mod tunnel;

use std::net::{IpAddr, SocketAddr};

pub use defrag::{DefragLimits, Defragmenter};
pub(crate) use ip::HeldFragment;

use crate::capture::Packet;

/// Deepest nesting of encapsulations (tunnels, VLAN stacks count once each
/// tunnel) that is opened; deeper frames are counted and skipped.
pub const MAX_ENCAPSULATION_DEPTH: u8 = 8;

/// TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    /// Returns true when every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// One TCP segment with the addresses of its innermost IP header.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub sequence: u32,
    pub acknowledgment: u32,
    pub flags: TcpFlags,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length by the IP header; larger than `payload.len()` when the
    /// snap length cut the frame.
    pub wire_payload_len: u32,
}

/// One UDP datagram with the addresses of its innermost IP header.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub payload: &'a [u8],
}

/// A decoded transport-layer unit.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
}

/// Counters of what the decoder saw and skipped, under stable names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeStats {
    /// Frames of a link type the decoder does not know.
    pub unsupported_link_type: u64,
    /// Frames whose headers were cut short or inconsistent.
    pub malformed: u64,
    /// Frames that carry no IP (ARP, LLDP, 802.11 management, ...).
    pub not_ip: u64,
    /// IP packets of a protocol other than TCP, UDP and the tunnels (ICMP among them).
    pub other_ip_protocol: u64,
    /// Tunnels opened (GRE, VXLAN, Geneve, GTP-U, Teredo, AYIYA, IP-in-IP).
    pub tunnels: u64,
    /// Frames nested deeper than [`MAX_ENCAPSULATION_DEPTH`].
    pub too_deep: u64,
    /// IP fragments received.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub reassembled: u64,
    /// Incomplete datagrams dropped for a time or memory limit.
    pub fragments_dropped: u64,
}

impl DecodeStats {
    /// Adds another decoder's counters to these.
    pub(crate) fn add(&mut self, other: &DecodeStats) {
        self.unsupported_link_type += other.unsupported_link_type;
        self.malformed += other.malformed;
        self.not_ip += other.not_ip;
        self.other_ip_protocol += other.other_ip_protocol;
        self.tunnels += other.tunnels;
        self.too_deep += other.too_deep;
        self.fragments += other.fragments;
        self.reassembled += other.reassembled;
        self.fragments_dropped += other.fragments_dropped;
    }
}

/// Decodes frames into transport units, keeping IP fragments between calls.
#[derive(Debug, Default)]
pub struct Decoder {
    pub(crate) stats: DecodeStats,
    defrag: Defragmenter,
    /// The frame being decoded is shorter than on the wire (snap length).
    frame_cut: bool,
    /// Fragments kept for another decoder to reassemble, when this one does not.
    set_aside: Option<Vec<HeldFragment>>,
}

/// Next layer to decode in a frame.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layer<'a> {
    Ethernet(&'a [u8]),
    EtherType(u16, &'a [u8]),
    /// IPv4 or IPv6, distinguished by the version nibble.
    Ip(&'a [u8]),
    Ppp(&'a [u8]),
    Llc(&'a [u8]),
    Mpls(&'a [u8]),
    NotIp,
    Malformed,
}

impl Decoder {
    /// Creates a decoder with the given fragment reassembly limits.
    pub fn new(limits: DefragLimits) -> Self {
        Decoder {
            stats: DecodeStats::default(),
            defrag: Defragmenter::new(limits),
            frame_cut: false,
            set_aside: None,
        }
    }

    /// Creates a decoder that keeps IP fragments aside instead of reassembling
    /// them; [`take_held`](Self::take_held) hands them out.
    pub(crate) fn holding_fragments() -> Self {
        Decoder {
            set_aside: Some(Vec::new()),
            ..Decoder::default()
        }
    }

    /// Tells whether fragments were held since the last [`take_held`](Self::take_held).
    pub(crate) fn holds_fragments(&self) -> bool {
        self.set_aside
            .as_ref()
            .is_some_and(|fragments| !fragments.is_empty())
    }

    /// Hands out the fragments held since the last call.
    pub(crate) fn take_held(&mut self) -> impl Iterator<Item = HeldFragment> + '_ {
        self.set_aside
            .iter_mut()
            .flat_map(|fragments| fragments.drain(..))
    }

    /// Returns the counters so far.
    pub fn stats(&self) -> DecodeStats {
        let mut stats = self.stats;
        stats.fragments_dropped += self.defrag.dropped();
        stats
    }

    /// Decodes one frame and passes every TCP segment and UDP datagram in it to `sink`.
    pub fn decode(&mut self, packet: &Packet<'_>, sink: &mut dyn FnMut(Transport<'_>)) {
        self.frame_cut = packet.data.len() < packet.original_len as usize;
        let Some(layer) = link::decode_link(packet.link_type, packet.data) else {
            self.stats.unsupported_link_type += 1;
            return;
        };
        self.decode_layer(layer, packet.timestamp_ns, 0, sink);
    }

    /// Walks the layers of a frame down to IP, then hands over to the IP decoder.
    pub(crate) fn decode_layer(
        &mut self,
        mut layer: Layer<'_>,
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        if depth > MAX_ENCAPSULATION_DEPTH {
            self.stats.too_deep += 1;
            return;
        }
        // Bounded: every step strips at least one header byte.
        loop {
            layer = match layer {
                Layer::Ethernet(data) => link::ethernet(data),
                Layer::EtherType(ether_type, data) => link::ether_type(ether_type, data),
                Layer::Ppp(data) => link::ppp(data),
                Layer::Llc(data) => link::llc(data),
                Layer::Mpls(data) => link::mpls(data),
                Layer::Ip(data) => {
                    self.ip(data, timestamp_ns, depth, sink);
                    return;
                }
                Layer::NotIp => {
                    self.stats.not_ip += 1;
                    return;
                }
                Layer::Malformed => {
                    self.stats.malformed += 1;
                    return;
                }
            };
        }
    }

    /// Decodes the transport layer of an IP payload, opening tunnels.
    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        protocol: u8,
        source: IpAddr,
        destination: IpAddr,
        payload: &[u8],
        wire_payload_len: u32,
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        match protocol {
            ip::PROTOCOL_TCP => self.tcp(source, destination, payload, wire_payload_len, sink),
            ip::PROTOCOL_UDP => self.udp(source, destination, payload, timestamp_ns, depth, sink),
            ip::PROTOCOL_IPV4 | ip::PROTOCOL_IPV6 => {
                self.stats.tunnels += 1;
                self.decode_layer(Layer::Ip(payload), timestamp_ns, depth + 1, sink);
            }
            ip::PROTOCOL_GRE => {
                self.stats.tunnels += 1;
                let inner = tunnel::gre(payload);
                self.decode_layer(inner, timestamp_ns, depth + 1, sink);
            }
            _ => self.stats.other_ip_protocol += 1,
        }
    }

    fn tcp(
        &mut self,
        source: IpAddr,
        destination: IpAddr,
        data: &[u8],
        wire_payload_len: u32,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        let Ok(header) = etherparse::TcpHeaderSlice::from_slice(data) else {
            self.stats.malformed += 1;
            return;
        };
        let header_len = header.slice().len();
        let payload = data.get(header_len..).unwrap_or_default();
        let mut flags = 0;
        for (set, bit) in [
            (header.fin(), TcpFlags::FIN),
            (header.syn(), TcpFlags::SYN),
            (header.rst(), TcpFlags::RST),
            (header.ack(), TcpFlags::ACK),
        ] {
            if set {
                flags |= bit;
            }
        }
        sink(Transport::Tcp(TcpSegment {
            source: SocketAddr::new(source, header.source_port()),
            destination: SocketAddr::new(destination, header.destination_port()),
            sequence: header.sequence_number(),
            acknowledgment: header.acknowledgment_number(),
            flags: TcpFlags(flags),
            payload,
            // Only a frame the snap length cut is missing bytes. An IP length
            // beyond a whole frame is false, and trusting it would skip real data.
            wire_payload_len: if self.frame_cut {
                wire_payload_len.saturating_sub(header_len as u32)
            } else {
                payload.len() as u32
            },
        }));
    }

    fn udp(
        &mut self,
        source: IpAddr,
        destination: IpAddr,
        data: &[u8],
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        let Ok(header) = etherparse::UdpHeaderSlice::from_slice(data) else {
            self.stats.malformed += 1;
            return;
        };
        let declared = usize::from(header.length());
        let end = if declared >= 8 {
            declared.min(data.len())
        } else {
            data.len()
        };
        let payload = data.get(8..end).unwrap_or_default();
        let (source_port, destination_port) = (header.source_port(), header.destination_port());

        if let Some(inner) = tunnel::udp(source_port, destination_port, payload) {
            self.stats.tunnels += 1;
            self.decode_layer(inner, timestamp_ns, depth + 1, sink);
            return;
        }
        sink(Transport::Udp(UdpDatagram {
            source: SocketAddr::new(source, source_port),
            destination: SocketAddr::new(destination, destination_port),
            payload,
        }));
    }
}
