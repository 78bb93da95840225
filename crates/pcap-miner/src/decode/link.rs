//! Link layers: each function strips one header and names the next layer.

use super::Layer;
use crate::capture::linktype;

pub(crate) const ETHER_TYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHER_TYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETHER_TYPE_TRANSPARENT_ETHERNET: u16 = 0x6558;
const ETHER_TYPE_VLAN: u16 = 0x8100;
const ETHER_TYPE_QINQ: u16 = 0x88a8;
const ETHER_TYPE_QINQ_OLD_1: u16 = 0x9100;
const ETHER_TYPE_QINQ_OLD_2: u16 = 0x9200;
pub(crate) const ETHER_TYPE_MPLS: u16 = 0x8847;
const ETHER_TYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHER_TYPE_PPPOE_SESSION: u16 = 0x8864;

/// Returns the first layer of a frame of `link_type`, or `None` for a link type that is not decoded.
pub(crate) fn decode_link(link_type: u32, data: &[u8]) -> Option<Layer<'_>> {
    let layer = match link_type {
        linktype::ETHERNET => Layer::Ethernet(data),
        linktype::NULL | linktype::LOOP => skip(data, 4, Layer::Ip),
        linktype::RAW | linktype::RAW_OPENBSD | linktype::RAW_BSDOS => Layer::Ip(data),
        linktype::IPV4 | linktype::IPV6 => Layer::Ip(data),
        linktype::LINUX_SLL => linux_sll(data),
        linktype::LINUX_SLL2 => linux_sll2(data),
        linktype::PPP | linktype::PPP_HDLC => Layer::Ppp(data),
        linktype::PPP_ETHER => pppoe_session(data),
        linktype::FDDI => skip(data, 13, Layer::Llc),
        linktype::NFLOG => nflog(data),
        linktype::IEEE802_11 => ieee802_11(data),
        linktype::IEEE802_11_RADIOTAP => radiotap(data),
        _ => return None,
    };
    Some(layer)
}

fn skip<'a>(data: &'a [u8], len: usize, next: fn(&'a [u8]) -> Layer<'a>) -> Layer<'a> {
    match data.get(len..) {
        Some(rest) => next(rest),
        None => Layer::Malformed,
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

fn le16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// Ethernet II, or IEEE 802.3 with an LLC header when the type field is a length.
pub(crate) fn ethernet(data: &[u8]) -> Layer<'_> {
    let (Some(type_or_len), Some(rest)) = (be16(data, 12), data.get(14..)) else {
        return Layer::Malformed;
    };
    if type_or_len < 0x0600 {
        return Layer::Llc(rest);
    }
    Layer::EtherType(type_or_len, rest)
}

/// Dispatches on an EtherType; VLAN tags of any depth are removed one per step.
pub(crate) fn ether_type(ether_type: u16, data: &[u8]) -> Layer<'_> {
    match ether_type {
        ETHER_TYPE_IPV4 | ETHER_TYPE_IPV6 => Layer::Ip(data),
        ETHER_TYPE_VLAN | ETHER_TYPE_QINQ | ETHER_TYPE_QINQ_OLD_1 | ETHER_TYPE_QINQ_OLD_2 => {
            match (be16(data, 2), data.get(4..)) {
                (Some(inner), Some(rest)) => Layer::EtherType(inner, rest),
                _ => Layer::Malformed,
            }
        }
        ETHER_TYPE_MPLS | ETHER_TYPE_MPLS_MULTICAST => Layer::Mpls(data),
        ETHER_TYPE_PPPOE_SESSION => pppoe_session(data),
        ETHER_TYPE_TRANSPARENT_ETHERNET => Layer::Ethernet(data),
        _ => Layer::NotIp,
    }
}

/// IEEE 802.2 LLC; only SNAP headers carry an EtherType.
pub(crate) fn llc(data: &[u8]) -> Layer<'_> {
    match data {
        [0xaa, 0xaa, 0x03, _, _, _, high, low, rest @ ..] => {
            Layer::EtherType(u16::from_be_bytes([*high, *low]), rest)
        }
        [_, _, _, ..] => Layer::NotIp,
        _ => Layer::Malformed,
    }
}

/// MPLS label stack, then IP by its version nibble or an Ethernet pseudowire.
pub(crate) fn mpls(data: &[u8]) -> Layer<'_> {
    let mut rest = data;
    loop {
        let Some(label) = rest.get(..4) else {
            return Layer::Malformed;
        };
        let bottom_of_stack = label[2] & 0x01 != 0;
        rest = &rest[4..];
        if bottom_of_stack {
            break;
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Layer::Ip(rest),
        // An Ethernet pseudowire control word starts with four zero bits.
        Some(0) => skip(rest, 4, Layer::Ethernet),
        Some(_) => Layer::Ethernet(rest),
        None => Layer::Malformed,
    }
}

/// PPP with or without the HDLC address and control bytes, protocol field compressed or not.
pub(crate) fn ppp(data: &[u8]) -> Layer<'_> {
    let data = match data {
        [0xff, 0x03, rest @ ..] => rest,
        _ => data,
    };
    let (protocol, rest) = match data {
        [first, rest @ ..] if first & 0x01 == 1 => (u16::from(*first), rest),
        [high, low, rest @ ..] => (u16::from_be_bytes([*high, *low]), rest),
        _ => return Layer::Malformed,
    };
    match protocol {
        0x0021 | 0x0057 => Layer::Ip(rest),
        0x0281 => Layer::Mpls(rest),
        _ => Layer::NotIp,
    }
}

/// PPPoE session stage: a 6-byte header, then a PPP protocol field.
fn pppoe_session(data: &[u8]) -> Layer<'_> {
    skip(data, 6, Layer::Ppp)
}

/// Linux "cooked" capture v1: 16-byte header with the protocol at bytes 14–15.
fn linux_sll(data: &[u8]) -> Layer<'_> {
    match (be16(data, 14), data.get(16..)) {
        (Some(protocol), Some(rest)) => sll_protocol(protocol, rest),
        _ => Layer::Malformed,
    }
}

/// Linux "cooked" capture v2: 20-byte header with the protocol at bytes 0–1.
fn linux_sll2(data: &[u8]) -> Layer<'_> {
    match (be16(data, 0), data.get(20..)) {
        (Some(protocol), Some(rest)) => sll_protocol(protocol, rest),
        _ => Layer::Malformed,
    }
}

fn sll_protocol(protocol: u16, rest: &[u8]) -> Layer<'_> {
    match protocol {
        // ETH_P_802_2: the frame starts with an LLC header.
        0x0004 => Layer::Llc(rest),
        _ => ether_type(protocol, rest),
    }
}

/// Linux NFLOG: a 4-byte header, then TLVs in host byte order; type 9 is the packet payload.
fn nflog(data: &[u8]) -> Layer<'_> {
    const NFULA_PAYLOAD: u16 = 9;
    let mut at = 4;
    while let (Some(len), Some(kind)) = (le16(data, at), le16(data, at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            return Layer::Malformed;
        }
        if kind == NFULA_PAYLOAD {
            return match data.get(at + 4..at + len) {
                Some(payload) => Layer::Ip(payload),
                None => Layer::Malformed,
            };
        }
        at += (len + 3) & !3;
    }
    Layer::NotIp
}

/// Radiotap header (its length is little-endian at bytes 2–3), then an 802.11 frame.
fn radiotap(data: &[u8]) -> Layer<'_> {
    match le16(data, 2) {
        Some(len) => match data.get(usize::from(len)..) {
            Some(frame) => ieee802_11(frame),
            None => Layer::Malformed,
        },
        None => Layer::Malformed,
    }
}

/// IEEE 802.11 data frames; management, control and protected frames carry no readable IP.
fn ieee802_11(data: &[u8]) -> Layer<'_> {
    let (Some(&control_0), Some(&control_1)) = (data.first(), data.get(1)) else {
        return Layer::Malformed;
    };
    let frame_type = (control_0 >> 2) & 0x03;
    let subtype = control_0 >> 4;
    let protected = control_1 & 0x40 != 0;
    let no_body = subtype & 0x04 != 0;
    if frame_type != 2 || protected || no_body {
        return Layer::NotIp;
    }

    let mut header_len = 24;
    if control_1 & 0x03 == 0x03 {
        header_len += 6; // fourth address
    }
    let qos = subtype & 0x08 != 0;
    if qos {
        header_len += 2;
        if control_1 & 0x80 != 0 {
            header_len += 4; // HT control field
        }
    }
    skip(data, header_len, Layer::Llc)
}
