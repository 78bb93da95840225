//! Test-only capture writer: frames, TCP connections, application payloads
//! and pcap/pcapng files, all built in memory.
//!
//! Checksums are left zero because the miner verifies none. Every length
//! field is filled in, so real parsers accept the frames.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const ETHER_TYPE_IPV4: u16 = 0x0800;
pub const ETHER_TYPE_IPV6: u16 = 0x86dd;
pub const ETHER_TYPE_VLAN: u16 = 0x8100;
pub const ETHER_TYPE_QINQ: u16 = 0x88a8;
pub const ETHER_TYPE_TRANSPARENT_ETHERNET: u16 = 0x6558;

pub const PROTOCOL_IPV4: u8 = 4;
pub const PROTOCOL_TCP: u8 = 6;
pub const PROTOCOL_UDP: u8 = 17;
pub const PROTOCOL_IPV6: u8 = 41;
pub const PROTOCOL_GRE: u8 = 47;

pub const IPV6_HOP_BY_HOP: u8 = 0;
pub const IPV6_ROUTING: u8 = 43;
pub const IPV6_FRAGMENT: u8 = 44;
pub const IPV6_DESTINATION_OPTIONS: u8 = 60;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

// ---------------------------------------------------------------------------
// Link layer

/// Builds an Ethernet II frame with VLAN tags given outermost first as (TPID, VLAN id).
pub fn ethernet_tagged(tags: &[(u16, u16)], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    for &(tpid, vlan_id) in tags {
        frame.extend_from_slice(&tpid.to_be_bytes());
        frame.extend_from_slice(&(vlan_id & 0x0fff).to_be_bytes());
    }
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Builds an untagged Ethernet II frame around an IP packet.
pub fn ethernet_ip(packet: &[u8]) -> Vec<u8> {
    ethernet_tagged(&[], ether_type_of(packet), packet)
}

fn ether_type_of(packet: &[u8]) -> u16 {
    match packet.first().map(|b| b >> 4) {
        Some(6) => ETHER_TYPE_IPV6,
        _ => ETHER_TYPE_IPV4,
    }
}

/// Frames an IP packet for a link type: Ethernet, raw IP, BSD loopback or Linux SLL2.
pub fn frame(link_type: u32, packet: &[u8]) -> Vec<u8> {
    match link_type {
        LINKTYPE_ETHERNET => ethernet_ip(packet),
        LINKTYPE_RAW => packet.to_vec(),
        LINKTYPE_NULL => {
            // Address family in host byte order: AF_INET is 2, AF_INET6 is 24 on NetBSD and OpenBSD.
            let family: u32 = if ether_type_of(packet) == ETHER_TYPE_IPV6 {
                24
            } else {
                2
            };
            [&family.to_le_bytes()[..], packet].concat()
        }
        LINKTYPE_LINUX_SLL2 => {
            let mut header = Vec::with_capacity(20 + packet.len());
            header.extend_from_slice(&ether_type_of(packet).to_be_bytes());
            header.extend_from_slice(&[0, 0]); // reserved
            header.extend_from_slice(&1u32.to_be_bytes()); // interface index
            header.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            header.extend_from_slice(&[4, 6]); // outgoing, address length
            header.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
            header.extend_from_slice(packet);
            header
        }
        other => panic!("pcapgen cannot frame link type {other}"),
    }
}

// ---------------------------------------------------------------------------
// Network layer

/// Builds an unfragmented IPv4 packet.
pub fn ipv4(source: Ipv4Addr, destination: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_fragment(source, destination, protocol, 0, 0, false, payload)
}

/// Builds one IPv4 fragment; `offset` is in bytes and must be a multiple of 8.
pub fn ipv4_fragment(
    source: Ipv4Addr,
    destination: Ipv4Addr,
    protocol: u8,
    identification: u16,
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    assert_eq!(offset % 8, 0, "IPv4 fragment offsets count 8-byte units");
    let total_len = u16::try_from(20 + data.len()).expect("IPv4 packet over 65535 bytes");
    let flags_offset = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    let mut packet = vec![0x45, 0];
    packet.extend_from_slice(&total_len.to_be_bytes());
    packet.extend_from_slice(&identification.to_be_bytes());
    packet.extend_from_slice(&flags_offset.to_be_bytes());
    packet.extend_from_slice(&[64, protocol, 0, 0]);
    packet.extend_from_slice(&source.octets());
    packet.extend_from_slice(&destination.octets());
    packet.extend_from_slice(data);
    packet
}

/// Builds an IPv6 packet; `payload` starts with any extension headers that `next_header` names.
pub fn ipv6(source: Ipv6Addr, destination: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let payload_len = u16::try_from(payload.len()).expect("IPv6 payload over 65535 bytes");
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&payload_len.to_be_bytes());
    packet.extend_from_slice(&[next_header, 64]);
    packet.extend_from_slice(&source.octets());
    packet.extend_from_slice(&destination.octets());
    packet.extend_from_slice(payload);
    packet
}

/// Builds an IPv6 extension header of the 8-octet-unit kind (hop-by-hop,
/// routing, destination options), zero-padded: zero bytes are Pad1 options.
pub fn ipv6_extension(next_header: u8, body: &[u8]) -> Vec<u8> {
    let len = (2 + body.len()).div_ceil(8) * 8;
    let mut header = vec![next_header, (len / 8 - 1) as u8];
    header.extend_from_slice(body);
    header.resize(len, 0);
    header
}

/// Builds an IPv6 fragment header; `offset` is in bytes and must be a multiple of 8.
pub fn ipv6_fragment_header(next_header: u8, offset: usize, more: bool, id: u32) -> Vec<u8> {
    assert_eq!(offset % 8, 0, "IPv6 fragment offsets count 8-byte units");
    let offset_flags = offset as u16 | u16::from(more);
    let mut header = vec![next_header, 0];
    header.extend_from_slice(&offset_flags.to_be_bytes());
    header.extend_from_slice(&id.to_be_bytes());
    header
}

/// Builds an IPv4 or IPv6 packet, by the family of the addresses.
pub fn ip(source: IpAddr, destination: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, protocol, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s, d, protocol, payload),
        _ => panic!("pcapgen: {source} and {destination} are of different families"),
    }
}

// ---------------------------------------------------------------------------
// Transport layer

/// Builds a TCP header without options, followed by `payload`.
pub fn tcp(
    source_port: u16,
    destination_port: u16,
    sequence: u32,
    acknowledgment: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut segment = Vec::with_capacity(20 + payload.len());
    segment.extend_from_slice(&source_port.to_be_bytes());
    segment.extend_from_slice(&destination_port.to_be_bytes());
    segment.extend_from_slice(&sequence.to_be_bytes());
    segment.extend_from_slice(&acknowledgment.to_be_bytes());
    segment.extend_from_slice(&[5 << 4, flags]);
    segment.extend_from_slice(&65535u16.to_be_bytes()); // window
    segment.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    segment.extend_from_slice(payload);
    segment
}

/// Builds a UDP header followed by `payload`.
pub fn udp(source_port: u16, destination_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).expect("UDP datagram over 65535 bytes");
    let mut datagram = Vec::with_capacity(8 + payload.len());
    datagram.extend_from_slice(&source_port.to_be_bytes());
    datagram.extend_from_slice(&destination_port.to_be_bytes());
    datagram.extend_from_slice(&len.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

/// Builds an IP packet holding one UDP datagram.
pub fn udp_packet(source: SocketAddr, destination: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let datagram = udp(source.port(), destination.port(), payload);
    ip(source.ip(), destination.ip(), PROTOCOL_UDP, &datagram)
}

/// Segments of one TCP connection as IP packets, with sequence numbers
/// counted from fixed initial sequence numbers.
#[derive(Debug, Clone, Copy)]
pub struct TcpConnection {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub client_isn: u32,
    pub server_isn: u32,
}

impl TcpConnection {
    /// Creates a connection whose client sequence numbers wrap past 2^32 after 16 bytes.
    pub fn new(client: SocketAddr, server: SocketAddr) -> Self {
        TcpConnection {
            client,
            server,
            client_isn: u32::MAX - 16,
            server_isn: 0x1000_0000,
        }
    }

    /// Returns the sequence number of client stream byte `offset`.
    pub fn client_sequence(&self, offset: usize) -> u32 {
        self.client_isn.wrapping_add(1).wrapping_add(offset as u32)
    }

    fn segment_from_client(&self, sequence: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let acknowledgment = self.server_isn.wrapping_add(1);
        let (c, s) = (self.client, self.server);
        let segment = tcp(c.port(), s.port(), sequence, acknowledgment, flags, payload);
        ip(c.ip(), s.ip(), PROTOCOL_TCP, &segment)
    }

    fn segment_from_server(&self, sequence: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let acknowledgment = self.client_isn.wrapping_add(1);
        let (c, s) = (self.client, self.server);
        let segment = tcp(s.port(), c.port(), sequence, acknowledgment, flags, payload);
        ip(s.ip(), c.ip(), PROTOCOL_TCP, &segment)
    }

    /// Returns the client's SYN.
    pub fn syn(&self) -> Vec<u8> {
        let segment = tcp(
            self.client.port(),
            self.server.port(),
            self.client_isn,
            0,
            SYN,
            &[],
        );
        ip(self.client.ip(), self.server.ip(), PROTOCOL_TCP, &segment)
    }

    /// Returns SYN, SYN-ACK and ACK.
    pub fn handshake(&self) -> Vec<Vec<u8>> {
        vec![
            self.syn(),
            self.segment_from_server(self.server_isn, SYN | ACK, &[]),
            self.segment_from_client(self.client_sequence(0), ACK, &[]),
        ]
    }

    /// Returns the server's RST-ACK that rejects the SYN.
    pub fn reset(&self) -> Vec<u8> {
        self.segment_from_server(0, RST | ACK, &[])
    }

    /// Returns a client segment carrying `data` at client stream offset `offset`.
    pub fn client_data(&self, offset: usize, data: &[u8]) -> Vec<u8> {
        self.segment_from_client(self.client_sequence(offset), PSH | ACK, data)
    }

    /// Returns a server segment carrying `data` at server stream offset `offset`.
    pub fn server_data(&self, offset: usize, data: &[u8]) -> Vec<u8> {
        let sequence = self.server_isn.wrapping_add(1).wrapping_add(offset as u32);
        self.segment_from_server(sequence, PSH | ACK, data)
    }

    /// Returns the client's FIN sent after `stream_len` bytes.
    pub fn client_fin(&self, stream_len: usize) -> Vec<u8> {
        self.segment_from_client(self.client_sequence(stream_len), FIN | ACK, &[])
    }

    /// Returns client segments of at most `size` bytes carrying `stream` from offset 0.
    pub fn client_segments(&self, stream: &[u8], size: usize) -> Vec<Vec<u8>> {
        stream
            .chunks(size.max(1))
            .enumerate()
            .map(|(i, chunk)| self.client_data(i * size.max(1), chunk))
            .collect()
    }

    /// Returns a whole connection: handshake, the client stream in segments of
    /// at most `size` bytes, a server reply and the client's FIN.
    pub fn exchange(&self, stream: &[u8], size: usize, reply: &[u8]) -> Vec<Vec<u8>> {
        let mut packets = self.handshake();
        packets.extend(self.client_segments(stream, size));
        if !reply.is_empty() {
            packets.push(self.server_data(0, reply));
        }
        packets.push(self.client_fin(stream.len()));
        packets
    }
}

// ---------------------------------------------------------------------------
// Application payloads

/// Builds a DNS query message (recursion desired) with one A question per name.
pub fn dns_query(id: u16, names: &[&str]) -> Vec<u8> {
    let mut message = Vec::new();
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&0x0100u16.to_be_bytes());
    message.extend_from_slice(&(names.len() as u16).to_be_bytes());
    message.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for name in names {
        for label in name.split('.').filter(|label| !label.is_empty()) {
            message.push(label.len() as u8);
            message.extend_from_slice(label.as_bytes());
        }
        message.push(0);
        message.extend_from_slice(&[0, 1, 0, 1]); // QTYPE A, QCLASS IN
    }
    message
}

/// Prefixes a DNS message with its two-byte length, as DNS over TCP sends it.
pub fn dns_over_tcp(message: &[u8]) -> Vec<u8> {
    let len = u16::try_from(message.len()).expect("DNS message over 65535 bytes");
    [&len.to_be_bytes()[..], message].concat()
}

/// Builds a ClientHello handshake message (type, length, body) with one server name.
pub fn client_hello(server_name: &str) -> Vec<u8> {
    let name = server_name.as_bytes();
    let mut server_name_list = vec![0]; // name type host_name
    server_name_list.extend_from_slice(&(name.len() as u16).to_be_bytes());
    server_name_list.extend_from_slice(name);
    let mut extension_data = (server_name_list.len() as u16).to_be_bytes().to_vec();
    extension_data.extend_from_slice(&server_name_list);

    let mut extensions = vec![0, 0]; // server_name
    extensions.extend_from_slice(&(extension_data.len() as u16).to_be_bytes());
    extensions.extend_from_slice(&extension_data);
    // supported_versions: TLS 1.3 and 1.2.
    extensions.extend_from_slice(&[0x00, 0x2b, 0, 5, 4, 0x03, 0x04, 0x03, 0x03]);

    let mut body = vec![0x03, 0x03];
    body.extend((0..32u8).map(|i| i.wrapping_mul(37)));
    body.push(0); // legacy_session_id
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]); // compression: null
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);

    let len = body.len() as u32;
    let mut message = vec![1];
    message.extend_from_slice(&len.to_be_bytes()[1..]);
    message.extend_from_slice(&body);
    message
}

/// Splits a handshake message into TLS handshake records of at most `record_len` payload bytes.
pub fn tls_records(handshake: &[u8], record_len: usize) -> Vec<u8> {
    let mut stream = Vec::new();
    for fragment in handshake.chunks(record_len.max(1)) {
        stream.extend_from_slice(&[22, 3, 1]);
        stream.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
        stream.extend_from_slice(fragment);
    }
    stream
}

// ---------------------------------------------------------------------------
// Capture files

/// One frame to write, with its capture time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Capture time in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    pub data: Vec<u8>,
    /// Length on the wire; larger than `data.len()` for a frame cut by the snap length.
    pub original_len: usize,
}

impl Frame {
    pub fn new(timestamp_ns: u64, data: Vec<u8>) -> Self {
        let original_len = data.len();
        Frame {
            timestamp_ns,
            data,
            original_len,
        }
    }
}

/// Frames IP packets for `link_type`, one microsecond apart from a fixed start time.
pub fn frames(link_type: u32, packets: &[Vec<u8>]) -> Vec<Frame> {
    packets
        .iter()
        .enumerate()
        .map(|(i, packet)| {
            let timestamp_ns = 1_700_000_000_000_000_000 + i as u64 * 1_000;
            Frame::new(timestamp_ns, frame(link_type, packet))
        })
        .collect()
}

/// One record of a capture file: the file header, a pcap record or a pcapng block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub offset: usize,
    pub len: usize,
    /// Packet number (from 1) when the record contains a packet.
    pub packet: Option<u64>,
}

/// A capture file in memory with the place of each record.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    pub bytes: Vec<u8>,
    pub records: Vec<Record>,
}

impl Capture {
    fn push(&mut self, bytes: &[u8], is_packet: bool) {
        let packets = self.records.iter().filter(|r| r.packet.is_some()).count() as u64;
        self.records.push(Record {
            offset: self.bytes.len(),
            len: bytes.len(),
            packet: is_packet.then_some(packets + 1),
        });
        self.bytes.extend_from_slice(bytes);
    }

    /// Returns the packet records in file order.
    pub fn packet_records(&self) -> Vec<Record> {
        self.records
            .iter()
            .copied()
            .filter(|r| r.packet.is_some())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// Sub-second unit of classic pcap timestamps, chosen by the magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Micro,
    Nano,
}

fn put_u16(out: &mut Vec<u8>, endian: Endian, value: u16) {
    match endian {
        Endian::Little => out.extend_from_slice(&value.to_le_bytes()),
        Endian::Big => out.extend_from_slice(&value.to_be_bytes()),
    }
}

fn put_u32(out: &mut Vec<u8>, endian: Endian, value: u32) {
    match endian {
        Endian::Little => out.extend_from_slice(&value.to_le_bytes()),
        Endian::Big => out.extend_from_slice(&value.to_be_bytes()),
    }
}

/// Writes a classic pcap file (version 2.4, snap length 262144).
pub fn pcap(link_type: u32, endian: Endian, precision: Precision, frames: &[Frame]) -> Capture {
    let mut capture = Capture::default();
    let magic = match precision {
        Precision::Micro => 0xa1b2_c3d4,
        Precision::Nano => 0xa1b2_3c4d,
    };
    let mut header = Vec::with_capacity(24);
    put_u32(&mut header, endian, magic);
    put_u16(&mut header, endian, 2);
    put_u16(&mut header, endian, 4);
    put_u32(&mut header, endian, 0); // thiszone
    put_u32(&mut header, endian, 0); // sigfigs
    put_u32(&mut header, endian, 262_144);
    put_u32(&mut header, endian, link_type);
    capture.push(&header, false);

    for frame in frames {
        let seconds = frame.timestamp_ns / 1_000_000_000;
        let fraction = frame.timestamp_ns % 1_000_000_000;
        let fraction = match precision {
            Precision::Micro => fraction / 1_000,
            Precision::Nano => fraction,
        };
        let mut record = Vec::with_capacity(16 + frame.data.len());
        put_u32(&mut record, endian, seconds as u32);
        put_u32(&mut record, endian, fraction as u32);
        put_u32(&mut record, endian, frame.data.len() as u32);
        put_u32(&mut record, endian, frame.original_len as u32);
        record.extend_from_slice(&frame.data);
        capture.push(&record, true);
    }
    capture
}

/// Writes pcapng files block by block: sections, interfaces, packets and
/// blocks of types the reader does not know.
#[derive(Debug, Default)]
pub struct PcapNgWriter {
    capture: Capture,
    endian: Option<Endian>,
    /// Per interface of the current section: timestamp units per second and offset in seconds.
    interfaces: Vec<(u64, i64)>,
}

pub const PCAPNG_SIMPLE_PACKET: u32 = 3;
pub const PCAPNG_INTERFACE_DESCRIPTION: u32 = 1;
pub const PCAPNG_ENHANCED_PACKET: u32 = 6;
pub const PCAPNG_SECTION_HEADER: u32 = 0x0a0d_0d0a;

impl PcapNgWriter {
    pub fn new() -> Self {
        PcapNgWriter::default()
    }

    fn endian(&self) -> Endian {
        self.endian.expect("pcapng: write a section header first")
    }

    /// Writes one block: type, total length, body padded to 4 bytes, total length.
    fn block(&mut self, block_type: u32, body: &[u8], is_packet: bool) {
        let endian = self.endian();
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut block = Vec::with_capacity(total as usize);
        put_u32(&mut block, endian, block_type);
        put_u32(&mut block, endian, total);
        block.extend_from_slice(body);
        block.resize(8 + padded, 0);
        put_u32(&mut block, endian, total);
        self.capture.push(&block, is_packet);
    }

    /// Starts a section; interface ids start again from 0.
    pub fn section(&mut self, endian: Endian) {
        self.endian = Some(endian);
        self.interfaces.clear();
        let mut body = Vec::new();
        put_u32(&mut body, endian, 0x1a2b_3c4d); // byte-order magic
        put_u16(&mut body, endian, 1);
        put_u16(&mut body, endian, 0);
        body.extend_from_slice(&[0xff; 8]); // section length unknown
        self.block(PCAPNG_SECTION_HEADER, &body, false);
    }

    /// Describes an interface; `tsresol` is the raw `if_tsresol` byte (10^-n,
    /// or 2^-n with the high bit set), `tsoffset` the `if_tsoffset` seconds.
    /// Returns the interface id.
    pub fn interface(&mut self, link_type: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> u32 {
        let endian = self.endian();
        let mut body = Vec::new();
        put_u16(&mut body, endian, link_type);
        put_u16(&mut body, endian, 0);
        put_u32(&mut body, endian, 262_144);
        if let Some(tsresol) = tsresol {
            put_u16(&mut body, endian, 9);
            put_u16(&mut body, endian, 1);
            body.extend_from_slice(&[tsresol, 0, 0, 0]);
        }
        if let Some(tsoffset) = tsoffset {
            put_u16(&mut body, endian, 14);
            put_u16(&mut body, endian, 8);
            match endian {
                Endian::Little => body.extend_from_slice(&tsoffset.to_le_bytes()),
                Endian::Big => body.extend_from_slice(&tsoffset.to_be_bytes()),
            }
        }
        put_u32(&mut body, endian, 0); // opt_endofopt
        self.block(PCAPNG_INTERFACE_DESCRIPTION, &body, false);

        let units = match tsresol.unwrap_or(6) {
            r if r & 0x80 != 0 => 1u64 << (r & 0x7f),
            r => 10u64.pow(u32::from(r)),
        };
        self.interfaces.push((units, tsoffset.unwrap_or(0)));
        (self.interfaces.len() - 1) as u32
    }

    /// Writes an Enhanced Packet Block, converting the time to the interface's units.
    pub fn enhanced_packet(&mut self, interface: u32, frame: &Frame) {
        let endian = self.endian();
        let (units, offset) = self.interfaces[interface as usize];
        let seconds = (frame.timestamp_ns / 1_000_000_000) as i64 - offset;
        let fraction = u128::from(frame.timestamp_ns % 1_000_000_000);
        let ticks =
            seconds as u128 * u128::from(units) + fraction * u128::from(units) / 1_000_000_000;
        let ticks = ticks as u64;

        let mut body = Vec::with_capacity(20 + frame.data.len());
        put_u32(&mut body, endian, interface);
        put_u32(&mut body, endian, (ticks >> 32) as u32);
        put_u32(&mut body, endian, ticks as u32);
        put_u32(&mut body, endian, frame.data.len() as u32);
        put_u32(&mut body, endian, frame.original_len as u32);
        body.extend_from_slice(&frame.data);
        self.block(PCAPNG_ENHANCED_PACKET, &body, true);
    }

    /// Writes a Simple Packet Block, which belongs to interface 0 and has no timestamp.
    pub fn simple_packet(&mut self, frame: &Frame) {
        let endian = self.endian();
        let mut body = Vec::with_capacity(4 + frame.data.len());
        put_u32(&mut body, endian, frame.original_len as u32);
        body.extend_from_slice(&frame.data);
        self.block(PCAPNG_SIMPLE_PACKET, &body, true);
    }

    /// Writes a block of a type the reader must skip.
    pub fn unknown_block(&mut self, block_type: u32, body: &[u8]) {
        self.block(block_type, body, false);
    }

    pub fn finish(self) -> Capture {
        self.capture
    }
}

/// Finds the records of an existing pcap or pcapng file by walking their length fields.
pub fn records_of(bytes: &[u8]) -> Vec<Record> {
    let mut capture = Capture::default();
    let read = |at: usize, big: bool| -> usize {
        let field: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if big {
            u32::from_be_bytes(field) as usize
        } else {
            u32::from_le_bytes(field) as usize
        }
    };
    let mut at;
    let mut big;
    if bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        at = 0;
        big = false;
        while at < bytes.len() {
            if read(at, false) == PCAPNG_SECTION_HEADER as usize {
                big = bytes[at + 8..at + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
            }
            let block_type = read(at, big) as u32;
            let len = read(at + 4, big);
            let is_packet = matches!(block_type, PCAPNG_ENHANCED_PACKET | PCAPNG_SIMPLE_PACKET);
            capture.push(&bytes[at..at + len], is_packet);
            at += len;
        }
    } else {
        big = matches!(bytes[..4], [0xa1, 0xb2, _, _]);
        capture.push(&bytes[..24], false);
        at = 24;
        while at < bytes.len() {
            let len = 16 + read(at + 8, big);
            capture.push(&bytes[at..at + len], true);
            at += len;
        }
    }
    capture.records
}

// ---------------------------------------------------------------------------
// Multi-kind sample traffic

/// Values that [`sample_traffic`] must yield, per attribute key.
pub const SAMPLE_EXPECTED: [(&str, &[&str]); 4] = [
    (
        "network-dns",
        &[
            "cdn.example.test",
            "tcp.example.test",
            "update.example.test",
        ],
    ),
    (
        "network-http",
        &[
            "http://evil.example/gate.php?id=1",
            "http://evil.example/submit",
        ],
    ),
    ("network-sni", &["c2.example.test:443"]),
    (
        "network-tcp",
        &[
            "192.0.2.53:53",
            "192.0.2.80:80",
            "192.0.2.99:8443",
            "[2001:db8::443]:443",
        ],
    ),
];

/// Parses a socket address written in a test.
pub fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// Returns the IP packets of one short sandbox session. It has an HTTP
/// connection with a GET and a POST with a body, and a ClientHello over IPv6
/// split into two records and three segments. Then come a UDP DNS query with
/// two questions, DNS over TCP and a refused connection.
///
/// Each HTTP request head is split across segments after its Host line, so
/// a capture cut between them still holds the whole Host header.
pub fn sample_traffic() -> Vec<Vec<u8>> {
    let mut packets = Vec::new();

    let http = TcpConnection::new(addr("10.0.0.5:49152"), addr("192.0.2.80:80"));
    let get = b"GET /gate.php?id=1 HTTP/1.1\r\nHost: evil.example\r\n";
    let post = b"\r\nPOST /submit HTTP/1.1\r\nHost: evil.example\r\n";
    let body = b"Content-Length: 9\r\n\r\nbot=7&x=1";
    packets.extend(http.handshake());
    packets.push(http.client_data(0, get));
    packets.push(http.client_data(get.len(), post));
    packets.push(http.client_data(get.len() + post.len(), body));
    packets.push(http.server_data(0, b"HTTP/1.1 200 OK\r\n\r\n"));
    packets.push(http.client_fin(get.len() + post.len() + body.len()));

    let query = dns_query(0x1234, &["update.example.test", "cdn.example.test"]);
    packets.push(udp_packet(
        addr("10.0.0.5:53000"),
        addr("192.0.2.53:53"),
        &query,
    ));

    let tls = TcpConnection::new(addr("[2001:db8::5]:49153"), addr("[2001:db8::443]:443"));
    let hello = tls_records(&client_hello("c2.example.test"), 40);
    packets.extend(tls.exchange(&hello, 30, &[]));

    let dns_tcp = TcpConnection::new(addr("10.0.0.5:49154"), addr("192.0.2.53:53"));
    let message = dns_over_tcp(&dns_query(0x4321, &["tcp.example.test"]));
    packets.extend(dns_tcp.exchange(&message, 7, &[]));

    let refused = TcpConnection::new(addr("10.0.0.5:49155"), addr("192.0.2.99:8443"));
    packets.push(refused.syn());
    packets.push(refused.reset());
    packets
}

/// Writes the sample traffic as pcapng in two sections. The little-endian
/// first section has an Ethernet and a raw-IP interface. The big-endian
/// second section has a Linux SLL2 and a BSD loopback interface, and some of
/// its packets are Simple Packet Blocks. Blocks of unknown types sit in both.
pub fn sample_pcapng() -> Capture {
    let packets = sample_traffic();
    let times = frames(LINKTYPE_RAW, &packets);
    let half = packets.len() / 2;
    let mut writer = PcapNgWriter::new();

    writer.section(Endian::Little);
    writer.unknown_block(0x0bad_0001, b"not a block type of the standard");
    let ethernet = writer.interface(LINKTYPE_ETHERNET as u16, None, None);
    let raw = writer.interface(LINKTYPE_RAW as u16, Some(9), None);
    for (i, packet) in packets[..half].iter().enumerate() {
        let (interface, link_type) = if i % 2 == 0 {
            (ethernet, LINKTYPE_ETHERNET)
        } else {
            (raw, LINKTYPE_RAW)
        };
        let frame = Frame::new(times[i].timestamp_ns, frame(link_type, packet));
        writer.enhanced_packet(interface, &frame);
    }

    writer.section(Endian::Big);
    let sll2 = writer.interface(LINKTYPE_LINUX_SLL2 as u16, Some(3), None);
    writer.unknown_block(0x0bad_0002, &[0xff; 7]);
    let null = writer.interface(LINKTYPE_NULL as u16, Some(9), Some(1_000_000_000));
    for (i, packet) in packets.iter().enumerate().skip(half) {
        let timestamp_ns = times[i].timestamp_ns;
        match i % 3 {
            0 => writer.simple_packet(&Frame::new(
                timestamp_ns,
                frame(LINKTYPE_LINUX_SLL2, packet),
            )),
            1 => writer.enhanced_packet(
                sll2,
                &Frame::new(timestamp_ns, frame(LINKTYPE_LINUX_SLL2, packet)),
            ),
            _ => writer.enhanced_packet(
                null,
                &Frame::new(timestamp_ns, frame(LINKTYPE_NULL, packet)),
            ),
        }
    }
    writer.finish()
}

/// Returns the non-empty kinds of mined indicators as attribute key to sorted values.
pub fn values_of(sets: &pcap_miner::IndicatorSets) -> BTreeMap<String, Vec<String>> {
    sets.kinds()
        .map(|kind| {
            let values = sets.get(kind).map(str::to_string).collect();
            (kind.key().to_string(), values)
        })
        .collect()
}

/// Returns expected values written as (attribute key, values) pairs in the form of [`values_of`].
pub fn expected_values(expected: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    expected
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(key, values)| {
            let values = values.iter().map(|v| v.to_string()).collect();
            (key.to_string(), values)
        })
        .collect()
}
