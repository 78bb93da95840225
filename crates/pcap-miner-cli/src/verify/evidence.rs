//! Evidence from the capture itself: what the frames behind a difference
//! carry, and the client streams and segments of their TCP connections.
//!
//! Two passes use the library's own decoder and flow table. The first keeps
//! the transport units of the frames asked for. The second records the
//! client-to-server bytes of TCP connections, in full (up to a limit) for
//! the connections of those frames and only the first bytes of the others.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::Path;

use pcap_miner::capture::{CaptureReader, Packet};
use pcap_miner::decode::{Decoder, DefragLimits, TcpFlags, Transport};
use pcap_miner::flow::{ConnectionEnds, FlowLimits, FlowTable, StreamHandler};

/// Client stream bytes recorded per connection of a frame asked for; later bytes are not looked at.
const MAX_STREAM_BYTES: usize = 16 << 20;

/// Client stream bytes recorded over all connections of the frames asked for.
const MAX_TOTAL_STREAM_BYTES: usize = 256 << 20;

/// Client stream bytes recorded per other connection, enough for its first requests.
const MAX_OTHER_STREAM_BYTES: usize = 64 << 10;

/// Client stream bytes recorded over all other connections.
const MAX_TOTAL_OTHER_BYTES: usize = 64 << 20;

/// Payload bytes kept per transport unit of a frame, and frame bytes kept per frame.
const MAX_UNIT_PAYLOAD: usize = 64 << 10;

/// A connection's two ends, lower first, whichever side is the client.
pub type ConnectionKey = (SocketAddr, SocketAddr);

/// Returns the key of the connection between `a` and `b`.
pub fn connection_key(a: SocketAddr, b: SocketAddr) -> ConnectionKey {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// One TCP segment or UDP datagram of a frame, as the library decodes it.
#[derive(Debug, Clone)]
pub struct Unit {
    pub over_tcp: bool,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// The first [`MAX_UNIT_PAYLOAD`] payload bytes.
    pub payload: Vec<u8>,
}

impl Unit {
    /// Returns `tcp/PORT` or `udp/PORT` for the destination, for messages.
    pub fn destination_label(&self) -> String {
        let transport = if self.over_tcp { "tcp" } else { "udp" };
        format!("{transport}/{}", self.destination.port())
    }
}

/// The bytes and transport units of one frame.
#[derive(Debug, Clone, Default)]
pub struct FrameFacts {
    /// The first [`MAX_UNIT_PAYLOAD`] bytes of the frame, link header included.
    pub raw: Vec<u8>,
    pub units: Vec<Unit>,
    /// The frame contains an IP packet of another protocol than TCP, UDP or a
    /// tunnel, such as ICMP, whose errors quote earlier packets.
    pub other_ip_protocol: bool,
}

/// Bytes of a client stream delivered while one packet was processed.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Stream offset of the first byte.
    pub offset: u64,
    /// The packet being processed when the bytes were delivered (the one
    /// that completed them when earlier segments were held back).
    pub packet: u64,
    pub data: Vec<u8>,
}

/// The recorded client-to-server bytes of one TCP connection.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_packet: u64,
    pub chunks: Vec<Chunk>,
    /// Bytes after the recording limit were not recorded.
    pub truncated: bool,
}

/// One TCP segment of a recorded connection, in capture order.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSeen {
    pub packet: u64,
    pub source: SocketAddr,
    pub sequence: u32,
    pub len: u32,
    pub syn: bool,
}

/// Facts about the frames and connections behind the differences.
#[derive(Debug, Default)]
pub struct CaptureFacts {
    pub frames: HashMap<u64, FrameFacts>,
    pub streams: HashMap<ConnectionKey, Vec<StreamRecord>>,
    pub segments: HashMap<ConnectionKey, Vec<SegmentSeen>>,
}

impl CaptureFacts {
    /// Reads the capture for the given frames and the TCP connections.
    ///
    /// Reading stops quietly at damage in the file: frames past it have no facts.
    pub fn gather(capture: &Path, frames: &BTreeSet<u64>) -> Self {
        let mut facts = CaptureFacts {
            frames: read_frames(capture, frames),
            ..CaptureFacts::default()
        };
        if frames.is_empty() {
            return facts;
        }
        let keys: HashSet<ConnectionKey> = facts
            .frames
            .values()
            .flat_map(|frame| &frame.units)
            .filter(|unit| unit.over_tcp)
            .map(|unit| connection_key(unit.source, unit.destination))
            .collect();
        let (streams, segments) = read_streams(capture, keys);
        facts.streams = streams;
        facts.segments = segments;
        facts
    }

    /// Returns every recorded client stream.
    pub fn all_streams(&self) -> impl Iterator<Item = &StreamRecord> {
        self.streams.values().flatten()
    }

    /// Returns the facts of one frame, if it was asked for and read.
    pub fn frame(&self, number: u64) -> Option<&FrameFacts> {
        self.frames.get(&number)
    }

    /// Returns the recorded connection that `unit` belongs to and that was
    /// open at `packet` (a 4-tuple can carry several connections in turn).
    pub fn stream_of(&self, unit: &Unit, packet: u64) -> Option<&StreamRecord> {
        let records = self
            .streams
            .get(&connection_key(unit.source, unit.destination))?;
        records
            .iter()
            .filter(|record| record.first_packet <= packet)
            .max_by_key(|record| record.first_packet)
    }

    /// Returns the client's segments of `record`'s connection, in capture order.
    pub fn client_segments(&self, record: &StreamRecord) -> Vec<SegmentSeen> {
        let key = connection_key(record.client, record.server);
        let Some(segments) = self.segments.get(&key) else {
            return Vec::new();
        };
        let next_start = self.streams.get(&key).and_then(|records| {
            records
                .iter()
                .map(|other| other.first_packet)
                .filter(|&first| first > record.first_packet)
                .min()
        });
        segments
            .iter()
            .filter(|segment| segment.source == record.client)
            .filter(|segment| segment.packet >= record.first_packet)
            .filter(|segment| next_start.is_none_or(|next| segment.packet < next))
            .copied()
            .collect()
    }
}

fn open(capture: &Path) -> Option<CaptureReader<'static>> {
    let file = File::open(capture).ok()?;
    CaptureReader::new(BufReader::new(file)).ok()
}

/// First pass: the transport units of the wanted frames.
fn read_frames(capture: &Path, wanted: &BTreeSet<u64>) -> HashMap<u64, FrameFacts> {
    let mut frames = HashMap::new();
    let (Some(mut reader), Some(&last)) = (open(capture), wanted.last()) else {
        return frames;
    };
    let mut decoder = Decoder::new(DefragLimits::default());
    // Fragments of a wanted frame may come earlier, so every frame up to the last wanted one is decoded.
    while let Ok(Some(packet)) = reader.next_packet() {
        if packet.number > last {
            break;
        }
        if !wanted.contains(&packet.number) {
            decoder.decode(&packet, &mut |_| {});
            continue;
        }
        frames.insert(packet.number, decode_frame(&mut decoder, &packet));
    }
    frames
}

fn decode_frame(decoder: &mut Decoder, packet: &Packet<'_>) -> FrameFacts {
    let before = decoder.stats().other_ip_protocol;
    let mut units = Vec::new();
    decoder.decode(packet, &mut |transport| units.push(unit_of(transport)));
    FrameFacts {
        raw: packet.data[..packet.data.len().min(MAX_UNIT_PAYLOAD)].to_vec(),
        units,
        other_ip_protocol: decoder.stats().other_ip_protocol > before,
    }
}

fn unit_of(transport: Transport<'_>) -> Unit {
    let (over_tcp, source, destination, payload) = match transport {
        Transport::Tcp(segment) => (true, segment.source, segment.destination, segment.payload),
        Transport::Udp(datagram) => (
            false,
            datagram.source,
            datagram.destination,
            datagram.payload,
        ),
    };
    Unit {
        over_tcp,
        source,
        destination,
        payload: payload[..payload.len().min(MAX_UNIT_PAYLOAD)].to_vec(),
    }
}

type Streams = HashMap<ConnectionKey, Vec<StreamRecord>>;
type Segments = HashMap<ConnectionKey, Vec<SegmentSeen>>;

/// Second pass: client streams and segments of the connections in `keys`.
fn read_streams(capture: &Path, keys: HashSet<ConnectionKey>) -> (Streams, Segments) {
    let mut context = RecordContext {
        packet: 0,
        keys,
        budget: MAX_TOTAL_STREAM_BYTES,
        other_budget: MAX_TOTAL_OTHER_BYTES,
        streams: HashMap::new(),
    };
    let mut segments: Segments = HashMap::new();
    let Some(mut reader) = open(capture) else {
        return (context.streams, segments);
    };
    let mut decoder = Decoder::new(DefragLimits::default());
    let mut flows: FlowTable<Recorder> = FlowTable::new(FlowLimits::default());
    while let Ok(Some(packet)) = reader.next_packet() {
        context.packet = packet.number;
        decoder.decode(&packet, &mut |transport| {
            let Transport::Tcp(segment) = transport else {
                return;
            };
            let key = connection_key(segment.source, segment.destination);
            if context.keys.contains(&key) {
                segments.entry(key).or_default().push(SegmentSeen {
                    packet: packet.number,
                    source: segment.source,
                    sequence: segment.sequence,
                    len: u32::try_from(segment.payload.len()).unwrap_or(u32::MAX),
                    syn: segment.flags.has(TcpFlags::SYN) && !segment.flags.has(TcpFlags::ACK),
                });
            }
            flows.segment(&segment, packet.number, &mut context);
        });
    }
    flows.finish_all(&mut context);
    (context.streams, segments)
}

/// The state the recorders share: the packet being read and where records go.
struct RecordContext {
    packet: u64,
    /// Connections of the frames asked for.
    keys: HashSet<ConnectionKey>,
    /// Bytes that may still be recorded over the connections in `keys`.
    budget: usize,
    /// Bytes that may still be recorded over other connections.
    other_budget: usize,
    streams: Streams,
}

/// A stream handler that copies client streams.
struct Recorder {
    client: SocketAddr,
    server: SocketAddr,
    /// Whether the connection belongs to a frame asked for; decided at its first bytes.
    wanted: Option<bool>,
    offset: u64,
    recorded: usize,
    chunks: Vec<Chunk>,
    truncated: bool,
}

impl StreamHandler for Recorder {
    type Context = RecordContext;

    fn new(client: SocketAddr, server: SocketAddr) -> Self {
        Recorder {
            client,
            server,
            wanted: None,
            offset: 0,
            recorded: 0,
            chunks: Vec::new(),
            truncated: false,
        }
    }

    fn data(&mut self, context: &mut RecordContext, data: &[u8]) {
        let key = connection_key(self.client, self.server);
        let wanted = *self
            .wanted
            .get_or_insert_with(|| context.keys.contains(&key));
        let offset = self.offset;
        self.offset += data.len() as u64;
        let (limit, budget) = if wanted {
            (MAX_STREAM_BYTES, &mut context.budget)
        } else {
            (MAX_OTHER_STREAM_BYTES, &mut context.other_budget)
        };
        if self.recorded + data.len() > limit || data.len() > *budget {
            self.truncated = true;
            return;
        }
        self.recorded += data.len();
        *budget -= data.len();
        self.chunks.push(Chunk {
            offset,
            packet: context.packet,
            data: data.to_vec(),
        });
    }

    fn gap(&mut self, _context: &mut RecordContext, len: u64) {
        self.offset += len;
    }

    fn wants_data(&self) -> bool {
        !self.truncated
    }

    fn finish(&mut self, context: &mut RecordContext, ends: ConnectionEnds) {
        if self.chunks.is_empty() {
            return;
        }
        let key = connection_key(ends.client, ends.server);
        context.streams.entry(key).or_default().push(StreamRecord {
            client: ends.client,
            server: ends.server,
            first_packet: ends.first_packet,
            chunks: std::mem::take(&mut self.chunks),
            truncated: self.truncated,
        });
    }
}
