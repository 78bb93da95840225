//! TCP connections: which side is the client, and the client's byte stream.
//!
//! The client is the side that sent the first SYN without ACK; failing that,
//! the receiver of the first SYN-ACK; failing that (the capture started
//! mid-connection), the side with the higher port, and with equal ports the
//! source of the first packet seen. Only the client-to-server direction is
//! reassembled, because every indicator is read from what the client sends.

mod reassembly;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

pub use reassembly::{Reassembler, ReassemblyStats, StreamEvent};

use crate::decode::{TcpFlags, TcpSegment};

/// Receives the client-to-server byte stream of one connection.
pub trait StreamHandler {
    /// Where the handler writes what it finds.
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
    /// Connections tracked at once; past this the least recently active one is finished early.
    pub max_connections: usize,
    /// Bytes held out of order in one stream before its first gap is skipped.
    pub max_stream_buffer: usize,
    /// Bytes held out of order across all streams before the stream being fed skips its gap.
    pub max_total_buffer: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_connections: 1 << 20,
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

/// How the client was decided; a later, stronger clue may overrule a weaker one.
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
    /// Server-to-client stream, fed only while the handler asks for it.
    server_stream: Reassembler,
    handler: H,
    first_packet: u64,
    /// Activity counter value of the last segment, for eviction.
    last_active: u64,
}

type ConnectionKey = (SocketAddr, SocketAddr);

fn key_of(a: SocketAddr, b: SocketAddr) -> ConnectionKey {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Tracks TCP connections and feeds each client stream to its handler.
pub struct FlowTable<H: StreamHandler> {
    connections: HashMap<ConnectionKey, Connection<H>>,
    /// Keys in the order they were last checked for eviction.
    eviction_queue: VecDeque<(ConnectionKey, u64)>,
    activity: u64,
    total_pending: usize,
    limits: FlowLimits,
    stats: FlowStats,
}

impl<H: StreamHandler> FlowTable<H> {
    /// Creates an empty table.
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            connections: HashMap::new(),
            eviction_queue: VecDeque::new(),
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
        update_roles(connection, segment);
        if segment.flags.has(TcpFlags::FIN) || segment.flags.has(TcpFlags::RST) {
            connection.ended = true;
        }
        if segment.source != connection.client {
            if connection.handler.wants_server_data() {
                feed_server(connection, segment, self.limits.max_stream_buffer, context);
            }
            if segment.flags.has(TcpFlags::RST) {
                flush(connection, context);
            }
            return;
        }

        let before = connection.stream.pending_bytes();
        feed(connection, segment, self.limits.max_stream_buffer, context);
        if segment.flags.has(TcpFlags::FIN) || segment.flags.has(TcpFlags::RST) {
            flush(connection, context);
        }
        let after = connection.stream.pending_bytes();
        self.total_pending = (self.total_pending + after).saturating_sub(before);
        if self.total_pending > self.limits.max_total_buffer {
            self.total_pending -= after;
            flush(connection, context);
        }
    }

    /// Finishes every connection; called at the end of the capture.
    pub fn finish_all(&mut self, context: &mut H::Context) {
        let keys: Vec<ConnectionKey> = self.connections.keys().copied().collect();
        for key in keys {
            self.finish_connection(key, context);
        }
        self.eviction_queue.clear();
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
            server_stream: Reassembler::default(),
            handler: H::new(client, server),
            first_packet: packet,
            last_active: self.activity,
        };
        self.connections.insert(key, connection);
        self.eviction_queue.push_back((key, self.activity));
    }

    /// Finishes the least recently active connections while the table is full.
    fn make_room(&mut self, context: &mut H::Context) {
        while self.connections.len() >= self.limits.max_connections.max(1) {
            let Some((key, stamp)) = self.eviction_queue.pop_front() else {
                return;
            };
            let Some(connection) = self.connections.get(&key) else {
                continue;
            };
            if connection.last_active > stamp {
                // Active since it was queued: give it another turn.
                self.eviction_queue.push_back((key, connection.last_active));
                continue;
            }
            self.stats.evicted_connections += 1;
            self.finish_connection(key, context);
        }
    }

    fn finish_connection(&mut self, key: ConnectionKey, context: &mut H::Context) {
        let Some(mut connection) = self.connections.remove(&key) else {
            return;
        };
        self.total_pending = self.total_pending.saturating_sub(
            connection.stream.pending_bytes() + connection.server_stream.pending_bytes(),
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
        connection.server_stream = Reassembler::default();
        connection.handler = H::new(connection.client, connection.server);
    }
}

/// A SYN from the client on an ended connection, or far outside its sequence space, opens a new one.
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
    if handler.wants_server_data() {
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
