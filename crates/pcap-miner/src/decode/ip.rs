//! IPv4 and IPv6, with IPv6 extension headers and fragments.
//!
//! The IPv4 header is read by hand rather than with etherparse's
//! `Ipv4HeaderSlice`, which rejects a total length of 0: captures taken on a
//! host with TCP segmentation offload carry that value on real packets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::defrag::FragmentKey;
use super::{Decoder, Transport};

pub(crate) const PROTOCOL_IPV4: u8 = 4;
pub(crate) const PROTOCOL_TCP: u8 = 6;
pub(crate) const PROTOCOL_UDP: u8 = 17;
pub(crate) const PROTOCOL_IPV6: u8 = 41;
pub(crate) const PROTOCOL_GRE: u8 = 47;

const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AUTHENTICATION: u8 = 51;
const IPV6_NO_NEXT_HEADER: u8 = 59;
const IPV6_DESTINATION_OPTIONS: u8 = 60;
const IPV6_MOBILITY: u8 = 135;

/// A fragment's place in its datagram.
struct Fragment {
    key: FragmentKey,
    /// Offset of this fragment's data in bytes.
    offset: u32,
    more: bool,
}

impl Decoder {
    /// Decodes an IPv4 or IPv6 packet, told apart by the version nibble.
    pub(crate) fn ip(
        &mut self,
        data: &[u8],
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        match data.first().map(|b| b >> 4) {
            Some(4) => self.ipv4(data, timestamp_ns, depth, sink),
            Some(6) => self.ipv6(data, timestamp_ns, depth, sink),
            _ => self.stats.malformed += 1,
        }
    }

    fn ipv4(
        &mut self,
        data: &[u8],
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        // RFC 791: version/IHL, TOS, total length, id, flags/fragment offset,
        // TTL, protocol, checksum, source, destination, options.
        let Some(header) = data.get(..20) else {
            self.stats.malformed += 1;
            return;
        };
        let header_len = usize::from(header[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if header_len < 20 || data.len() < header_len || (total_len != 0 && total_len < header_len)
        {
            self.stats.malformed += 1;
            return;
        }
        // Total length 0 comes from segmentation offload: trust the frame.
        let total_len = if total_len == 0 {
            data.len()
        } else {
            total_len
        };
        let payload = &data[header_len..total_len.min(data.len())];
        let wire_payload_len = (total_len - header_len) as u32;

        let protocol = header[9];
        let source = IpAddr::V4(Ipv4Addr::new(
            header[12], header[13], header[14], header[15],
        ));
        let destination = IpAddr::V4(Ipv4Addr::new(
            header[16], header[17], header[18], header[19],
        ));
        let flags_offset = u16::from_be_bytes([header[6], header[7]]);
        let more = flags_offset & 0x2000 != 0;
        let offset = u32::from(flags_offset & 0x1fff) * 8;

        if !more && offset == 0 {
            self.transport(
                protocol,
                source,
                destination,
                payload,
                wire_payload_len,
                timestamp_ns,
                depth,
                sink,
            );
            return;
        }
        let identification = u32::from(u16::from_be_bytes([header[4], header[5]]));
        let fragment = Fragment {
            key: FragmentKey {
                source,
                destination,
                identification,
                protocol,
            },
            offset,
            more,
        };
        self.fragment(fragment, payload, timestamp_ns, depth, sink);
    }

    fn ipv6(
        &mut self,
        data: &[u8],
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        let Ok(header) = etherparse::Ipv6HeaderSlice::from_slice(data) else {
            self.stats.malformed += 1;
            return;
        };
        let source = IpAddr::V6(Ipv6Addr::from(header.source()));
        let destination = IpAddr::V6(Ipv6Addr::from(header.destination()));
        let declared = usize::from(header.payload_length());
        // A payload length of 0 is a jumbogram or offload: trust the frame.
        let end = if declared == 0 {
            data.len()
        } else {
            (40 + declared).min(data.len())
        };
        let wire_len = if declared == 0 {
            data.len() - 40
        } else {
            declared
        };
        let mut payload = &data[40..end];
        let mut consumed = 0usize;
        let mut next_header = header.next_header().0;
        let mut fragment = None;

        // RFC 8200 section 4: walk the extension headers to the upper layer.
        loop {
            let len = match next_header {
                IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DESTINATION_OPTIONS | IPV6_MOBILITY => {
                    payload.get(1).map(|&n| (usize::from(n) + 1) * 8)
                }
                IPV6_AUTHENTICATION => payload.get(1).map(|&n| (usize::from(n) + 2) * 4),
                IPV6_FRAGMENT => Some(8),
                IPV6_NO_NEXT_HEADER => return,
                _ => break,
            };
            let Some(extension) = len.and_then(|len| payload.get(..len)) else {
                self.stats.malformed += 1;
                return;
            };
            if next_header == IPV6_FRAGMENT {
                let offset_flags = u16::from_be_bytes([extension[2], extension[3]]);
                let identification =
                    u32::from_be_bytes([extension[4], extension[5], extension[6], extension[7]]);
                fragment = Some((
                    u32::from(offset_flags & 0xfff8),
                    offset_flags & 1 != 0,
                    identification,
                ));
            }
            next_header = extension[0];
            consumed += extension.len();
            payload = &payload[extension.len()..];
            if fragment.is_some() {
                // What follows is the fragmentable part, decoded after reassembly.
                break;
            }
        }

        let wire_payload_len = wire_len.saturating_sub(consumed) as u32;
        match fragment {
            Some((offset, more, identification)) if more || offset != 0 => {
                let fragment = Fragment {
                    key: FragmentKey {
                        source,
                        destination,
                        identification,
                        protocol: next_header,
                    },
                    offset,
                    more,
                };
                self.fragment(fragment, payload, timestamp_ns, depth, sink);
            }
            _ => self.transport(
                next_header,
                source,
                destination,
                payload,
                wire_payload_len,
                timestamp_ns,
                depth,
                sink,
            ),
        }
    }

    /// Stores a fragment and decodes the datagram once it is complete; a
    /// decoder made to keep fragments aside stores a copy for [`Decoder::reassemble`] instead.
    fn fragment(
        &mut self,
        fragment: Fragment,
        data: &[u8],
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        self.stats.fragments += 1;
        if let Some(set_aside) = &mut self.set_aside {
            set_aside.push(HeldFragment {
                key: fragment.key,
                offset: fragment.offset,
                more: fragment.more,
                data: data.to_vec(),
                timestamp_ns,
                depth,
                frame_cut: self.frame_cut,
            });
            return;
        }
        self.insert_fragment(fragment, data, timestamp_ns, depth, sink);
    }

    /// Adds a fragment another decoder held to this decoder's reassembly.
    pub(crate) fn reassemble(
        &mut self,
        fragment: &HeldFragment,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        // The datagram is decoded as part of the frame that completes it, as when this decoder reads that frame.
        self.frame_cut = fragment.frame_cut;
        let place = Fragment {
            key: fragment.key,
            offset: fragment.offset,
            more: fragment.more,
        };
        self.insert_fragment(
            place,
            &fragment.data,
            fragment.timestamp_ns,
            fragment.depth,
            sink,
        );
    }

    fn insert_fragment(
        &mut self,
        fragment: Fragment,
        data: &[u8],
        timestamp_ns: u64,
        depth: u8,
        sink: &mut dyn FnMut(Transport<'_>),
    ) {
        let key = fragment.key;
        let Some(datagram) =
            self.defrag
                .insert(key, fragment.offset, fragment.more, data, timestamp_ns)
        else {
            return;
        };
        self.stats.reassembled += 1;
        let wire_len = datagram.len() as u32;
        self.transport(
            key.protocol,
            key.source,
            key.destination,
            &datagram,
            wire_len,
            timestamp_ns,
            depth,
            sink,
        );
    }
}

/// An IP fragment a decoder kept aside, with what reassembly needs.
#[derive(Debug, Clone)]
pub(crate) struct HeldFragment {
    key: FragmentKey,
    offset: u32,
    more: bool,
    data: Vec<u8>,
    timestamp_ns: u64,
    depth: u8,
    /// The frame carrying the fragment was cut by the snap length.
    frame_cut: bool,
}
