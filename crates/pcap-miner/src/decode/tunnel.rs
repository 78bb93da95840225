//! Tunnel headers: GRE (with ERSPAN and PPTP), and the UDP tunnels VXLAN,
//! Geneve, GTP-U, Teredo, AYIYA and GRE-in-UDP.

use super::link::{
    ETHER_TYPE_IPV4, ETHER_TYPE_IPV6, ETHER_TYPE_MPLS, ETHER_TYPE_TRANSPARENT_ETHERNET,
};
use super::Layer;

const PORT_AYIYA: u16 = 5072;
const PORT_GENEVE: u16 = 6081;
const PORT_GRE_IN_UDP: u16 = 4754;
const PORT_GTP_U: u16 = 2152;
const PORT_TEREDO: u16 = 3544;
const PORT_VXLAN: u16 = 4789;

const GRE_ERSPAN_1_2: u16 = 0x88be;
const GRE_ERSPAN_3: u16 = 0x22eb;
const GRE_PPP: u16 = 0x880b;

/// Returns the inner layer when a UDP datagram on a tunnel port holds a valid tunnel header.
pub(crate) fn udp(source_port: u16, destination_port: u16, payload: &[u8]) -> Option<Layer<'_>> {
    let on = |port| source_port == port || destination_port == port;
    if on(PORT_VXLAN) {
        return vxlan(payload);
    }
    if on(PORT_GENEVE) {
        return geneve(payload);
    }
    if on(PORT_GTP_U) {
        return gtp_u(payload);
    }
    if on(PORT_TEREDO) {
        return teredo(payload);
    }
    if on(PORT_AYIYA) {
        return ayiya(payload);
    }
    if on(PORT_GRE_IN_UDP) {
        return match gre(payload) {
            Layer::Malformed | Layer::NotIp => None,
            inner => Some(inner),
        };
    }
    None
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// GRE (RFC 2784, RFC 2890) and enhanced GRE of PPTP (RFC 2637).
pub(crate) fn gre(data: &[u8]) -> Layer<'_> {
    let (Some(flags), Some(protocol)) = (be16(data, 0), be16(data, 2)) else {
        return Layer::Malformed;
    };
    let checksum = flags & 0x8000 != 0;
    let routing = flags & 0x4000 != 0;
    let key = flags & 0x2000 != 0;
    let sequence = flags & 0x1000 != 0;
    let version = flags & 0x0007;

    if version == 1 {
        // PPTP: 8 bytes with key, then optional sequence and acknowledgment numbers.
        let acknowledgment = flags & 0x0080 != 0;
        let len = 8 + 4 * usize::from(sequence) + 4 * usize::from(acknowledgment);
        return match (protocol, data.get(len..)) {
            (GRE_PPP, Some(rest)) => Layer::Ppp(rest),
            (_, Some(_)) => Layer::NotIp,
            (_, None) => Layer::Malformed,
        };
    }
    if version != 0 || routing {
        return Layer::NotIp;
    }
    let len = 4 + 4 * (usize::from(checksum) + usize::from(key) + usize::from(sequence));
    let Some(rest) = data.get(len..) else {
        return Layer::Malformed;
    };
    match protocol {
        ETHER_TYPE_IPV4 | ETHER_TYPE_IPV6 => Layer::Ip(rest),
        ETHER_TYPE_TRANSPARENT_ETHERNET => Layer::Ethernet(rest),
        ETHER_TYPE_MPLS => Layer::Mpls(rest),
        // ERSPAN type I has no header and no sequence number; type II has an 8-byte header.
        GRE_ERSPAN_1_2 if !sequence => Layer::Ethernet(rest),
        GRE_ERSPAN_1_2 => skip(rest, 8),
        GRE_ERSPAN_3 => erspan_3(rest),
        _ => Layer::NotIp,
    }
}

/// ERSPAN type III: a 12-byte header, plus an 8-byte platform subheader when the O bit is set.
fn erspan_3(data: &[u8]) -> Layer<'_> {
    match data.get(11) {
        Some(&last) if last & 0x01 != 0 => skip(data, 20),
        Some(_) => skip(data, 12),
        None => Layer::Malformed,
    }
}

fn skip(data: &[u8], len: usize) -> Layer<'_> {
    match data.get(len..) {
        Some(rest) => Layer::Ethernet(rest),
        None => Layer::Malformed,
    }
}

/// VXLAN (RFC 7348): 8-byte header with the I flag, then Ethernet.
fn vxlan(data: &[u8]) -> Option<Layer<'_>> {
    let flags = *data.first()?;
    if flags & 0x08 == 0 {
        return None;
    }
    Some(Layer::Ethernet(data.get(8..)?))
}

/// Geneve (RFC 8926): 8 bytes plus options, then the payload named by its protocol type.
fn geneve(data: &[u8]) -> Option<Layer<'_>> {
    let first = *data.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let len = 8 + usize::from(first & 0x3f) * 4;
    let rest = data.get(len..)?;
    match be16(data, 2)? {
        ETHER_TYPE_TRANSPARENT_ETHERNET => Some(Layer::Ethernet(rest)),
        ETHER_TYPE_IPV4 | ETHER_TYPE_IPV6 => Some(Layer::Ip(rest)),
        _ => None,
    }
}

/// GTP-U version 1 (3GPP TS 29.281) G-PDU: 8 bytes, optional fields and extension headers, then IP.
fn gtp_u(data: &[u8]) -> Option<Layer<'_>> {
    let flags = *data.first()?;
    let message_type = *data.get(1)?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || message_type != 0xff {
        return None;
    }
    let has_options = flags & 0x07 != 0;
    if !has_options {
        return Some(Layer::Ip(data.get(8..)?));
    }
    let mut at = 12;
    let mut next_extension = *data.get(11)?;
    let extensions_present = flags & 0x04 != 0;
    while extensions_present && next_extension != 0 {
        let len = usize::from(*data.get(at)?) * 4;
        if len == 0 {
            return None;
        }
        next_extension = *data.get(at + len - 1)?;
        at += len;
    }
    Some(Layer::Ip(data.get(at..)?))
}

/// Teredo (RFC 4380): optional authentication and origin indication headers, then IPv6.
fn teredo(data: &[u8]) -> Option<Layer<'_>> {
    let mut rest = data;
    if rest.starts_with(&[0x00, 0x01]) {
        let client_id_len = usize::from(*rest.get(2)?);
        let auth_len = usize::from(*rest.get(3)?);
        rest = rest.get(4 + client_id_len + auth_len + 9..)?;
    }
    if rest.starts_with(&[0x00, 0x00]) {
        rest = rest.get(8..)?;
    }
    let version = rest.first()? >> 4;
    let payload_len = usize::from(be16(rest, 4)?);
    if version != 6 || rest.len() < 40 + payload_len {
        return None;
    }
    Some(Layer::Ip(rest))
}

/// AYIYA: identity and signature lengths come from the first two bytes; byte 3 names the next header.
fn ayiya(data: &[u8]) -> Option<Layer<'_>> {
    let identity_len = 1usize << (data.first()? >> 4);
    let signature_len = usize::from(data.get(1)? >> 4) * 4;
    let opcode = data.get(2)? & 0x0f;
    let next_header = *data.get(3)?;
    if opcode != 1 || !(next_header == 4 || next_header == 41) {
        return None;
    }
    Some(Layer::Ip(data.get(8 + identity_len + signature_len..)?))
}
