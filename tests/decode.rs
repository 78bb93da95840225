//! Decoding through the whole miner: VLAN stacks, IPv6 extension headers,
//! IPv4 and IPv6 fragments and tunnels, each carrying an HTTP request or a
//! DNS query whose value must come out with the innermost addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use pcap_miner::{mine_reader, Config, MineReport};

use crate::pcapgen::{
    addr, dns_query, ethernet_ip, ethernet_tagged, expected_values, ipv4, ipv4_fragment, ipv6,
    ipv6_extension, ipv6_fragment_header, pcap, tcp, udp, udp_packet, values_of, Endian, Frame,
    Precision, TcpConnection, ETHER_TYPE_IPV4, ETHER_TYPE_IPV6, ETHER_TYPE_QINQ,
    ETHER_TYPE_TRANSPARENT_ETHERNET, ETHER_TYPE_VLAN, IPV6_DESTINATION_OPTIONS, IPV6_FRAGMENT,
    IPV6_HOP_BY_HOP, IPV6_ROUTING, LINKTYPE_ETHERNET, PROTOCOL_GRE, PROTOCOL_IPV4, PROTOCOL_IPV6,
    PROTOCOL_TCP, PROTOCOL_UDP, SYN,
};

/// Mines Ethernet frames written as a classic pcap, with no VM range and no result limit.
fn mine_frames(frames: &[Vec<u8>]) -> MineReport {
    let frames: Vec<Frame> = frames
        .iter()
        .enumerate()
        .map(|(i, data)| Frame::new(1_700_000_000_000_000_000 + i as u64 * 1_000, data.clone()))
        .collect();
    let capture = pcap(LINKTYPE_ETHERNET, Endian::Little, Precision::Micro, &frames);
    let config = Config {
        vm_networks: Vec::new(),
        max_results: None,
        ..Config::default()
    };
    // Fragments, tunnels and the rest reach the same values on several threads.
    crate::threads::assert_threads_agree_on_bytes(&capture.bytes, &config);
    mine_reader(&capture.bytes[..], Path::new("decode.pcap"), &config)
        .unwrap_or_else(|partial| panic!("{}", partial.error))
}

fn ipv4_of(address: SocketAddr) -> Ipv4Addr {
    match address.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => panic!("{ip} is not IPv4"),
    }
}

fn ipv6_of(address: SocketAddr) -> Ipv6Addr {
    match address.ip() {
        IpAddr::V6(ip) => ip,
        IpAddr::V4(ip) => panic!("{ip} is not IPv6"),
    }
}

const REQUEST: &[u8] = b"GET /inner?q=1 HTTP/1.1\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";

/// Returns the IP packets of an HTTP connection whose request has no Host
/// header, so the URI names the server address the decoder found.
fn http_connection(client: &str, server: &str) -> Vec<Vec<u8>> {
    let connection = TcpConnection::new(addr(client), addr(server));
    connection.exchange(REQUEST, 1000, b"HTTP/1.1 204 No Content\r\n\r\n")
}

#[test]
fn vlan_stack_carries_http_and_dns() {
    // An 802.1ad service tag outside an 802.1Q customer tag, then a third old-style tag.
    let tags = [(ETHER_TYPE_QINQ, 100), (ETHER_TYPE_VLAN, 200), (0x9100, 7)];
    let mut frames = Vec::new();
    for packet in http_connection("192.0.2.10:40000", "198.51.100.1:8080") {
        let ether_type = if packet[0] >> 4 == 6 {
            ETHER_TYPE_IPV6
        } else {
            ETHER_TYPE_IPV4
        };
        frames.push(ethernet_tagged(&tags, ether_type, &packet));
    }
    let query = dns_query(1, &["vlan.example.test"]);
    let packet = udp_packet(addr("192.0.2.10:5000"), addr("198.51.100.53:53"), &query);
    frames.push(ethernet_tagged(&tags[..2], ETHER_TYPE_IPV4, &packet));

    let report = mine_frames(&frames);
    let expected = expected_values(&[
        ("network-dns", &["vlan.example.test"]),
        ("network-http", &["http://198.51.100.1:8080/inner?q=1"]),
        ("network-tcp", &["198.51.100.1:8080"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
    assert_eq!(report.stats.malformed(), 0);
}

/// Puts hop-by-hop, destination options and routing headers in front of an upper-layer payload.
fn with_extension_headers(upper_protocol: u8, upper: &[u8]) -> Vec<u8> {
    let mut routing_body = vec![0, 1, 0, 0, 0, 0]; // type 0, one segment left, reserved
    routing_body.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99).octets());
    let pad_n = [1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // PadN option of 10 bytes
    let mut payload = ipv6_extension(IPV6_DESTINATION_OPTIONS, &pad_n);
    payload.extend(ipv6_extension(IPV6_ROUTING, &routing_body));
    payload.extend(ipv6_extension(upper_protocol, &[]));
    payload.extend_from_slice(upper);
    payload
}

/// Rewrites an IPv6 packet so that its upper-layer payload follows extension headers.
fn add_extension_headers(packet: &[u8]) -> Vec<u8> {
    let source = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap());
    let destination = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap());
    let payload = with_extension_headers(packet[6], &packet[40..]);
    ipv6(source, destination, IPV6_HOP_BY_HOP, &payload)
}

#[test]
fn ipv6_extension_headers_skipped() {
    let mut frames: Vec<Vec<u8>> = http_connection("[2001:db8::10]:40000", "[2001:db8::80]:80")
        .iter()
        .map(|packet| ethernet_ip(&add_extension_headers(packet)))
        .collect();
    let query = dns_query(2, &["ext.example.test"]);
    let (client, server) = (addr("[2001:db8::10]:5000"), addr("[2001:db8::53]:53"));
    let packet = add_extension_headers(&udp_packet(client, server, &query));
    frames.push(ethernet_ip(&packet));

    let report = mine_frames(&frames);
    let expected = expected_values(&[
        ("network-dns", &["ext.example.test"]),
        ("network-http", &["http://[2001:db8::80]/inner?q=1"]),
        ("network-tcp", &["[2001:db8::80]:80"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
    assert_eq!(report.stats.malformed(), 0);
}

/// Splits an IPv4 packet's payload into fragments of `size` bytes (a multiple of 8).
fn ipv4_fragments(packet: &[u8], identification: u16, size: usize) -> Vec<Vec<u8>> {
    let source = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[12..16]).unwrap());
    let destination = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[16..20]).unwrap());
    let protocol = packet[9];
    let payload = &packet[20..];
    let count = payload.len().div_ceil(size);
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let more = i + 1 < count;
            ipv4_fragment(
                source,
                destination,
                protocol,
                identification,
                i * size,
                more,
                piece,
            )
        })
        .collect()
}

#[test]
fn ipv4_fragments_reversed() {
    let mut packets = http_connection("192.0.2.20:40000", "198.51.100.2:80");
    // Packet 3 (after SYN, SYN-ACK, ACK) carries the request.
    let request = packets.remove(3);
    let mut fragments = ipv4_fragments(&request, 0x0101, 16);
    fragments.reverse();
    packets.splice(3..3, fragments.clone());

    let query = dns_query(3, &["fragmented.example.test"]);
    let datagram = udp_packet(addr("192.0.2.20:5000"), addr("198.51.100.53:53"), &query);
    let mut dns_fragments = ipv4_fragments(&datagram, 0x0202, 24);
    dns_fragments.reverse();
    packets.extend(dns_fragments.clone());

    let frames: Vec<Vec<u8>> = packets.iter().map(|p| ethernet_ip(p)).collect();
    let report = mine_frames(&frames);
    let expected = expected_values(&[
        ("network-dns", &["fragmented.example.test"]),
        ("network-http", &["http://198.51.100.2/inner?q=1"]),
        ("network-tcp", &["198.51.100.2:80"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
    let fragment_count = (fragments.len() + dns_fragments.len()) as u64;
    assert_eq!(report.stats.decode.fragments, fragment_count);
    assert_eq!(report.stats.decode.reassembled, 2);
}

#[test]
fn ipv4_overlapping_fragments_first_wins() {
    let (client, server) = (addr("192.0.2.30:5000"), addr("198.51.100.53:53"));
    // The name starts at datagram byte 20 (8 UDP + 12 DNS header bytes):
    // a length byte, then `a` at 21 up to `z` at 46.
    let query = dns_query(4, &["abcdefghijklmnopqrstuvwxyz.example.test"]);
    let datagram = udp(client.port(), server.port(), &query);
    let mut altered = datagram.clone();
    altered[24..48].make_ascii_uppercase();
    let (source, destination) = (ipv4_of(client), ipv4_of(server));
    let fragment = |data: &[u8], start: usize, end: usize, more: bool| {
        let piece = &data[start..end.min(data.len())];
        ipv4_fragment(
            source,
            destination,
            PROTOCOL_UDP,
            0x0303,
            start,
            more,
            piece,
        )
    };
    // Bytes 24..32 arrive first in upper case, then again in lower case.
    let packets = [
        fragment(&altered, 24, 48, true),
        fragment(&datagram, 0, 32, true),
        fragment(&datagram, 48, datagram.len(), false),
    ];

    let frames: Vec<Vec<u8>> = packets.iter().map(|p| ethernet_ip(p)).collect();
    let report = mine_frames(&frames);
    let expected =
        expected_values(&[("network-dns", &["abcDEFGHIJKLMNOPQRSTUVWXYZ.example.test"])]);
    assert_eq!(values_of(&report.indicators), expected);
    assert_eq!(report.stats.decode.reassembled, 1);
}

/// Splits an IPv6 packet's upper-layer payload into fragments behind a hop-by-hop header.
fn ipv6_fragments(packet: &[u8], id: u32, size: usize) -> Vec<Vec<u8>> {
    let source = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap());
    let destination = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap());
    let upper_protocol = packet[6];
    let payload = &packet[40..];
    let count = payload.len().div_ceil(size);
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let mut body = ipv6_extension(IPV6_FRAGMENT, &[]);
            body.extend(ipv6_fragment_header(
                upper_protocol,
                i * size,
                i + 1 < count,
                id,
            ));
            body.extend_from_slice(piece);
            ipv6(source, destination, IPV6_HOP_BY_HOP, &body)
        })
        .collect()
}

#[test]
fn ipv6_fragments_out_of_order() {
    let mut packets = http_connection("[2001:db8::20]:40000", "[2001:db8::81]:8081");
    let request = packets.remove(3);
    let mut fragments = ipv6_fragments(&request, 0x0a0b_0c0d, 24);
    fragments.rotate_left(1);
    packets.splice(3..3, fragments.clone());

    let (client, server) = (addr("[2001:db8::20]:5000"), addr("[2001:db8::53]:5353"));
    let query = dns_query(5, &["v6-fragmented.example.test"]);
    let mut dns_fragments = ipv6_fragments(&udp_packet(client, server, &query), 7, 16);
    dns_fragments.reverse();
    packets.extend(dns_fragments.clone());

    let frames: Vec<Vec<u8>> = packets.iter().map(|p| ethernet_ip(p)).collect();
    let report = mine_frames(&frames);
    let expected = expected_values(&[
        ("network-dns", &["v6-fragmented.example.test"]),
        ("network-http", &["http://[2001:db8::81]:8081/inner?q=1"]),
        ("network-tcp", &["[2001:db8::81]:8081"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
    let fragment_count = (fragments.len() + dns_fragments.len()) as u64;
    assert_eq!(report.stats.decode.fragments, fragment_count);
    assert_eq!(report.stats.decode.reassembled, 2);
}

/// Wraps an inner IPv4 packet in GRE with the key and sequence number fields present.
fn gre_over_ipv4(inner: &[u8]) -> Vec<u8> {
    let mut gre = vec![0x30, 0x00];
    gre.extend_from_slice(&ETHER_TYPE_IPV4.to_be_bytes());
    gre.extend_from_slice(&0x0000_002au32.to_be_bytes()); // key
    gre.extend_from_slice(&0x0000_0001u32.to_be_bytes()); // sequence number
    gre.extend_from_slice(inner);
    let outer = ipv4(
        Ipv4Addr::new(203, 0, 113, 1),
        Ipv4Addr::new(203, 0, 113, 2),
        PROTOCOL_GRE,
        &gre,
    );
    ethernet_ip(&outer)
}

#[test]
fn gre_tunnel_uses_inner_addresses() {
    let mut frames: Vec<Vec<u8>> = http_connection("10.9.0.5:40000", "198.51.100.3:8080")
        .iter()
        .map(|packet| gre_over_ipv4(packet))
        .collect();
    let query = dns_query(6, &["gre.example.test"]);
    let packet = udp_packet(addr("10.9.0.5:5000"), addr("198.51.100.53:53"), &query);
    frames.push(gre_over_ipv4(&packet));

    let report = mine_frames(&frames);
    let expected = expected_values(&[
        ("network-dns", &["gre.example.test"]),
        ("network-http", &["http://198.51.100.3:8080/inner?q=1"]),
        ("network-tcp", &["198.51.100.3:8080"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
    assert_eq!(report.stats.decode.tunnels, frames.len() as u64);
}

/// Wraps an inner IP packet in an Ethernet frame inside VXLAN (UDP 4789) over IPv4.
fn vxlan_over_ipv4(inner: &[u8]) -> Vec<u8> {
    let mut vxlan = vec![0x08, 0, 0, 0, 0x00, 0x12, 0x34, 0]; // I flag, VNI 0x1234
    vxlan.extend(ethernet_ip(inner));
    let outer = udp_packet(addr("203.0.113.1:49999"), addr("203.0.113.2:4789"), &vxlan);
    ethernet_ip(&outer)
}

#[test]
fn vxlan_tunnel_uses_inner_addresses() {
    let mut frames: Vec<Vec<u8>> = http_connection("[2001:db8::30]:40000", "[2001:db8::82]:80")
        .iter()
        .map(|packet| vxlan_over_ipv4(packet))
        .collect();
    let query = dns_query(7, &["vxlan.example.test"]);
    let packet = udp_packet(addr("10.9.0.6:5000"), addr("198.51.100.53:53"), &query);
    frames.push(vxlan_over_ipv4(&packet));

    let report = mine_frames(&frames);
    let expected = expected_values(&[
        ("network-dns", &["vxlan.example.test"]),
        ("network-http", &["http://[2001:db8::82]/inner?q=1"]),
        ("network-tcp", &["[2001:db8::82]:80"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
    assert_eq!(report.stats.decode.tunnels, frames.len() as u64);
}

#[test]
fn ip_in_ip_and_transparent_ethernet_gre() {
    // 6in4: IPv4 protocol 41 carries the IPv6 HTTP connection.
    let mut frames: Vec<Vec<u8>> = http_connection("[2001:db8::40]:40000", "[2001:db8::83]:80")
        .iter()
        .map(|packet| {
            let outer = ipv4(
                Ipv4Addr::new(203, 0, 113, 1),
                Ipv4Addr::new(203, 0, 113, 2),
                PROTOCOL_IPV6,
                packet,
            );
            ethernet_ip(&outer)
        })
        .collect();

    // GRE with a bridged Ethernet frame (EtherType 0x6558) carrying a DNS query.
    let query = dns_query(8, &["bridged.example.test"]);
    let inner = udp_packet(addr("192.0.2.40:5000"), addr("198.51.100.53:53"), &query);
    let mut gre = vec![0, 0];
    gre.extend_from_slice(&ETHER_TYPE_TRANSPARENT_ETHERNET.to_be_bytes());
    gre.extend(ethernet_ip(&inner));
    let outer = ipv6(
        ipv6_of(addr("[2001:db8:ffff::1]:0")),
        ipv6_of(addr("[2001:db8:ffff::2]:0")),
        PROTOCOL_GRE,
        &gre,
    );
    frames.push(ethernet_ip(&outer));

    // 4in6: IPv6 next header 4 carries an IPv4 DNS query.
    let query = dns_query(9, &["four-in-six.example.test"]);
    let inner = udp_packet(addr("192.0.2.41:5000"), addr("198.51.100.53:53"), &query);
    let outer = ipv6(
        ipv6_of(addr("[2001:db8:ffff::1]:0")),
        ipv6_of(addr("[2001:db8:ffff::2]:0")),
        PROTOCOL_IPV4,
        &inner,
    );
    frames.push(ethernet_ip(&outer));

    let report = mine_frames(&frames);
    let expected = expected_values(&[
        (
            "network-dns",
            &["bridged.example.test", "four-in-six.example.test"],
        ),
        ("network-http", &["http://[2001:db8::83]/inner?q=1"]),
        ("network-tcp", &["[2001:db8::83]:80"]),
    ]);
    assert_eq!(values_of(&report.indicators), expected);
}

#[test]
fn truncated_headers_counted_malformed() {
    let query = dns_query(10, &["kept.example.test"]);
    let good = udp_packet(addr("192.0.2.50:5000"), addr("198.51.100.53:53"), &query);
    let segment = tcp(40000, 80, 1, 0, SYN, &[]);
    let tcp_packet = ipv4(
        Ipv4Addr::new(192, 0, 2, 50),
        Ipv4Addr::new(198, 51, 100, 4),
        PROTOCOL_TCP,
        &segment,
    );
    let frames = vec![
        ethernet_ip(&good)[..10].to_vec(), // cut inside the Ethernet header
        ethernet_ip(&good)[..14 + 12].to_vec(), // cut inside the IPv4 header
        ethernet_ip(&tcp_packet)[..14 + 20 + 9].to_vec(), // cut inside the TCP header
        ethernet_ip(&good),
    ];
    let report = mine_frames(&frames);
    let expected = expected_values(&[("network-dns", &["kept.example.test"])]);
    assert_eq!(values_of(&report.indicators), expected);
    assert_eq!(report.stats.decode.malformed, 3);
}
