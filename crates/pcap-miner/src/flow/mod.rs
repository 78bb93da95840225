//! TCP connections: which side is the client, and the client's byte stream.
//!
//! The client is the side that sent the first SYN without ACK. Failing that,
//! it is the receiver of the first SYN-ACK. When neither was captured (the
//! capture started mid-connection), it is the side with the higher port, and
//! with equal ports the source of the first packet seen. Only the client-to-server direction is
//! reassembled, because every indicator is read from what the client sends.

mod reassembly;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

pub use reassembly::{Reassembler, ReassemblyStats, StreamEvent};

use crate::decode::{TcpFlags, TcpSegment};

/// Receives the client-to-server byte stream of one connection.
pub trait StreamHandler {
    /// Output of the handler: where it writes what it finds.
    type Context;

    /// Creates the handler of a connection from `client` to `server`.
    fn new(client: SocketAddr, server: SocketAddr) -> Self;

    /// Takes contiguous stream bytes; each call starts where a segment started.
    fn data(&mut self, context: &mut Self::Context, data: &[u8]);

    /// Learns that `len` bytes of the stream were never captured.
    fn gap(&mut self, context: &mut Self::Context, len: u64);

    /// Returns false once no later byte can change the result, so reassembly stops.
    fn wants_data(&self) -> bool;

    /// Ends the connection; `ends` gives the final client and server.
    fn finish(&mut self, context: &mut Self::Context, ends: ConnectionEnds);

    /// Returns true while the handler also reads the server-to-client stream
    /// (TLS decryption needs the ServerHello); that stream is not reassembled otherwise.
    fn wants_server_data(&self) -> bool {
        false
    }

    /// Takes contiguous server-to-client bytes, as [`data`](Self::data) does for the client.
    fn server_data(&mut self, _context: &mut Self::Context, _data: &[u8]) {}

    /// Learns of a hole in the server-to-client stream.
    fn server_gap(&mut self, _context: &mut Self::Context, _len: u64) {}
}

/// The two endpoints of a connection by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionEnds {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Number of the connection's first packet in the capture.
    pub first_packet: u64,
}

/// Memory limits of the connection table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// Connections tracked at once; past this the least recently active eighth is finished early.
    pub max_connections: usize,
    /// Bytes held out of order in one stream before its first gap is skipped.
    pub max_stream_buffer: usize,
    /// Bytes held out of order across all streams before the stream being fed skips its gap.
    pub max_total_buffer: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            // About 300 bytes each: 200,000 connections keep the table near 80 MiB.
            max_connections: 200_000,
            max_stream_buffer: 1 << 20,
            max_total_buffer: 64 << 20,
        }
    }
}

/// Counters of the connection table, under stable names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowStats {
    /// TCP connections seen.
    pub connections: u64,
    /// Connections finished early because the table was full.
    pub evicted_connections: u64,
    /// New connections started by a SYN on a 4-tuple in use.
    pub port_reuses: u64,
    /// Overlapping copies with bytes that differ from the bytes kept.
    pub inconsistent_retransmissions: u64,
    /// Stream holes skipped.
    pub stream_gaps: u64,
    /// Segments too far from the expected sequence number.
    pub out_of_window_segments: u64,
}

/// Evidence the client was decided by. A later, stronger clue may overrule a weaker one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Decision {
    Ports,
    SynAck,
    Syn,
}

struct Connection<H> {
    client: SocketAddr,
    server: SocketAddr,
    decision: Decision,
    client_isn: Option<u32>,
    ended: bool,
    stream: Reassembler,
    /// Server-to-client stream, created only when the handler requests it.
    server_stream: Option<Box<Reassembler>>,
    handler: H,
    first_packet: u64,
    /// Activity counter value of the last segment, for eviction.
    last_active: u64,
}

/// Both endpoints of a connection in a fixed order, packed: IPv4 addresses as
/// IPv4-mapped IPv6, each followed by its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ConnectionKey([u8; 36]);

fn endpoint_bytes(endpoint: SocketAddr) -> [u8; 18] {
    let address = match endpoint.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let mut bytes = [0u8; 18];
    bytes[..16].copy_from_slice(&address.octets());
    bytes[16..].copy_from_slice(&endpoint.port().to_be_bytes());
    bytes
}

fn key_of(a: SocketAddr, b: SocketAddr) -> ConnectionKey {
    let (a, b) = (endpoint_bytes(a), endpoint_bytes(b));
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut key = [0u8; 36];
    key[..18].copy_from_slice(&low);
    key[18..].copy_from_slice(&high);
    ConnectionKey(key)
}

/// Tracks TCP connections and feeds each client stream to its handler.
pub struct FlowTable<H: StreamHandler> {
    /// Boxed, so the table's rehashes after evictions move pointers, not whole connections.
    connections: HashMap<ConnectionKey, Box<Connection<H>>, foldhash::fast::RandomState>,
    /// Segments seen so far. A connection stores the value at its last segment, which shows how recently it was active.
    activity: u64,
    total_pending: usize,
    limits: FlowLimits,
    stats: FlowStats,
}

impl<H: StreamHandler> FlowTable<H> {
    /// Creates an empty table.
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            connections: HashMap::default(),
            activity: 0,
            total_pending: 0,
            limits,
            stats: FlowStats::default(),
        }
    }

    /// Returns the counters so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Returns the number of connections tracked now.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Returns true when no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Processes one TCP segment of capture packet number `packet`.
    pub fn segment(&mut self, segment: &TcpSegment<'_>, packet: u64, context: &mut H::Context) {
        self.activity += 1;
        let key = key_of(segment.source, segment.destination);
        let syn_only = segment.flags.has(TcpFlags::SYN) && !segment.flags.has(TcpFlags::ACK);

        if syn_only {
            if let Some(connection) = self.connections.get(&key) {
                if starts_new_connection(connection, segment) {
                    self.stats.port_reuses += 1;
                    self.finish_connection(key, context);
                }
            }
        }
        if !self.connections.contains_key(&key) {
            self.make_room(context);
            self.open(key, segment, packet);
        }
        let Some(connection) = self.connections.get_mut(&key) else {
            return;
        };
        connection.last_active = self.activity;
        // Everything below may change what the connection holds, role changes included.
        let before = held_bytes(connection);
        update_roles(connection, segment);
        if segment.flags.has(TcpFlags::FIN) || segment.flags.has(TcpFlags::RST) {
            connection.ended = true;
        }

        // Holes are skipped only when the connection is finished: a FIN or RST
        // may be captured before segments that were sent earlier.
        if segment.source != connection.client {
            if connection.handler.wants_server_data() {
                feed_server(connection, segment, self.limits.max_stream_buffer, context);
            }
        } else {
            feed(connection, segment, self.limits.max_stream_buffer, context);
        }

        self.total_pending = (self.total_pending + held_bytes(connection)).saturating_sub(before);
        if self.total_pending > self.limits.max_total_buffer {
            let held = held_bytes(connection);
            flush(connection, context);
            self.total_pending = (self.total_pending + held_bytes(connection)).saturating_sub(held);
        }
    }

    /// Finishes every connection; called at the end of the capture.
    pub fn finish_all(&mut self, context: &mut H::Context) {
        let keys: Vec<ConnectionKey> = self.connections.keys().copied().collect();
        for key in keys {
            self.finish_connection(key, context);
        }
    }

    fn open(&mut self, key: ConnectionKey, segment: &TcpSegment<'_>, packet: u64) {
        self.stats.connections += 1;
        let (client, server) = initial_roles(segment);
        let connection = Connection {
            client,
            server,
            decision: Decision::Ports,
            client_isn: None,
            ended: false,
            stream: Reassembler::default(),
            server_stream: None,
            handler: H::new(client, server),
            first_packet: packet,
            last_active: self.activity,
        };
        self.connections.insert(key, Box::new(connection));
    }

    /// Finishes the least recently active eighth of the connections when the table is full.
    ///
    /// One sweep costs a pass over the table and frees room for many new
    /// connections, so each new connection pays a constant share.
    fn make_room(&mut self, context: &mut H::Context) {
        let max = self.limits.max_connections.max(1);
        if self.connections.len() < max {
            return;
        }
        let mut by_activity: Vec<(u64, ConnectionKey)> = self
            .connections
            .iter()
            .map(|(key, connection)| (connection.last_active, *key))
            .collect();
        let evict = (max / 8).clamp(1, by_activity.len());
        by_activity.select_nth_unstable(evict - 1);
        for &(_, key) in &by_activity[..evict] {
            self.stats.evicted_connections += 1;
            self.finish_connection(key, context);
        }
    }

    fn finish_connection(&mut self, key: ConnectionKey, context: &mut H::Context) {
        let Some(mut connection) = self.connections.remove(&key) else {
            return;
        };
        self.total_pending = self.total_pending.saturating_sub(
            connection.stream.pending_bytes()
                + connection
                    .server_stream
                    .as_ref()
                    .map_or(0, |stream| stream.pending_bytes()),
        );
        flush(&mut connection, context);
        let stats = connection.stream.stats;
        self.stats.inconsistent_retransmissions += stats.inconsistent_retransmissions;
        self.stats.stream_gaps += stats.gaps;
        self.stats.out_of_window_segments += stats.out_of_window;
        let ends = ConnectionEnds {
            client: connection.client,
            server: connection.server,
            first_packet: connection.first_packet,
        };
        connection.handler.finish(context, ends);
    }
}

/// Returns the out-of-order bytes a connection buffers in both directions.
fn held_bytes<H: StreamHandler>(connection: &Connection<H>) -> usize {
    connection.stream.pending_bytes()
        + connection
            .server_stream
            .as_ref()
            .map_or(0, |stream| stream.pending_bytes())
}

/// Roles from the first packet alone: a SYN names the client, a SYN-ACK the
/// server, anything else the port rule.
fn initial_roles(segment: &TcpSegment<'_>) -> (SocketAddr, SocketAddr) {
    let (source, destination) = (segment.source, segment.destination);
    if segment.flags.has(TcpFlags::SYN) {
        if segment.flags.has(TcpFlags::ACK) {
            return (destination, source);
        }
        return (source, destination);
    }
    if source.port() < destination.port() {
        (destination, source)
    } else {
        (source, destination)
    }
}

/// Applies a SYN or SYN-ACK that decides the roles more firmly than before.
fn update_roles<H: StreamHandler>(connection: &mut Connection<H>, segment: &TcpSegment<'_>) {
    if !segment.flags.has(TcpFlags::SYN) {
        return;
    }
    let (decision, client) = if segment.flags.has(TcpFlags::ACK) {
        (Decision::SynAck, segment.destination)
    } else {
        (Decision::Syn, segment.source)
    };
    if decision <= connection.decision {
        // Equal or weaker: a retransmission, or the bare SYN of a split handshake.
        if decision == Decision::Syn
            && connection.client_isn.is_none()
            && client == connection.client
        {
            connection.client_isn = Some(segment.sequence);
        }
        return;
    }
    connection.decision = decision;
    if decision == Decision::Syn {
        connection.client_isn = Some(segment.sequence);
    }
    if client != connection.client {
        // The earlier guess was wrong: restart the client stream on the other side.
        connection.server = connection.client;
        connection.client = client;
        connection.stream = Reassembler::default();
        connection.server_stream = None;
        connection.handler = H::new(connection.client, connection.server);
    }
}

/// Returns true when a SYN from the client opens a new connection: the old one ended, or the SYN is far outside its sequence space.
fn starts_new_connection<H: StreamHandler>(
    connection: &Connection<H>,
    segment: &TcpSegment<'_>,
) -> bool {
    if connection.decision != Decision::Syn || segment.source != connection.client {
        return false;
    }
    if connection.client_isn == Some(segment.sequence) {
        return false;
    }
    if connection.ended {
        return true;
    }
    let Some(next) = connection.stream.next_sequence() else {
        return false;
    };
    let distance = segment.sequence.wrapping_sub(next) as i32;
    distance.unsigned_abs() > 1 << 20
}

fn feed<H: StreamHandler>(
    connection: &mut Connection<H>,
    segment: &TcpSegment<'_>,
    max_pending: usize,
    context: &mut H::Context,
) {
    let Connection {
        stream, handler, ..
    } = connection;
    let mut sequence = segment.sequence;
    if segment.flags.has(TcpFlags::SYN) {
        stream.syn(sequence);
        sequence = sequence.wrapping_add(1);
    }
    if stream.is_closed() {
        return;
    }
    stream.segment(
        sequence,
        segment.payload,
        segment.wire_payload_len,
        max_pending,
        &mut |event| match event {
            StreamEvent::Data(data) => handler.data(context, data),
            StreamEvent::Gap(len) => handler.gap(context, len),
        },
    );
    if !handler.wants_data() {
        stream.close();
    }
}

fn feed_server<H: StreamHandler>(
    connection: &mut Connection<H>,
    segment: &TcpSegment<'_>,
    max_pending: usize,
    context: &mut H::Context,
) {
    let Connection {
        server_stream,
        handler,
        ..
    } = connection;
    let server_stream = server_stream.get_or_insert_with(Box::default);
    let mut sequence = segment.sequence;
    if segment.flags.has(TcpFlags::SYN) {
        server_stream.syn(sequence);
        sequence = sequence.wrapping_add(1);
    }
    server_stream.segment(
        sequence,
        segment.payload,
        segment.wire_payload_len,
        max_pending,
        &mut |event| match event {
            StreamEvent::Data(data) => handler.server_data(context, data),
            StreamEvent::Gap(len) => handler.server_gap(context, len),
        },
    );
}

fn flush<H: StreamHandler>(connection: &mut Connection<H>, context: &mut H::Context) {
    let Connection {
        stream,
        server_stream,
        handler,
        ..
    } = connection;
    if let Some(server_stream) = server_stream
        .as_mut()
        .filter(|_| handler.wants_server_data())
    {
        server_stream.flush(&mut |event| match event {
            StreamEvent::Data(data) => handler.server_data(context, data),
            StreamEvent::Gap(len) => handler.server_gap(context, len),
        });
    }
    stream.flush(&mut |event| match event {
        StreamEvent::Data(data) => handler.data(context, data),
        StreamEvent::Gap(len) => handler.gap(context, len),
    });
    if !handler.wants_data() {
        stream.close();
    }
}
