//! Mining on several threads.
//!
//! Workers take the capture a chunk of [`Config::chunk_len`] bytes at a time,
//! and each chunk goes through these steps:
//!
//! 1. Reading. A worker reads its chunk of a file at the chunk's offset while
//!    other workers read theirs. A stream is read by one worker at a time.
//! 2. Framing, in capture order: the worker finds the records that start in
//!    its chunk ([`Framer`]). This is quick, so workers seldom wait for it.
//! 3. Decoding, on every worker at once: frames become TCP segments and UDP
//!    datagrams, dealt into one list per connection shard by a symmetric hash
//!    of the two endpoints. Payloads stay in the chunk. IP fragments are set
//!    aside.
//! 4. Reassembling the fragments set aside, in capture order, by one decoder.
//! 5. Connection tracking and parsing. Each worker owns one shard and takes
//!    that shard's list from every decoded chunk, in capture order, so a
//!    connection's state stays with one thread and its cache.
//!
//! Every connection's packets thus reach its shard in capture order, as with
//! one thread. Where the framer stops at damage, one thread reads the rest
//! with a resumed [`CaptureReader`](crate::capture::CaptureReader) and feeds
//! the same shards.
//!
//! NOTE: each shard gets an equal share of the memory limits. When traffic
//! hashes unevenly and a limit is reached, one shard may evict connections
//! that one thread would have kept, and the results then differ.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use crate::capture::{CaptureError, CaptureReader, Chunk, Framed, FramedPacket, Framer, MoreBytes};
use crate::config::Config;
use crate::decode::{
    DecodeStats, Decoder, HeldFragment, TcpFlags, TcpSegment, Transport, UdpDatagram,
};
use crate::indicators::IndicatorSets;
use crate::miner::{self, MineStats};
use crate::shard::{Shard, ShardResult};

/// Source of the capture bytes.
pub(crate) enum Input<'f, R> {
    /// A file, read by each worker at its chunk's offset.
    File(&'f File),
    /// A stream, read by one worker at a time.
    Stream(R),
}

/// Minimum length of the first chunk, so that the framer reads the whole file header.
const FIRST_CHUNK_LEN: usize = 64 * 1024;

/// Mines `input` on `workers` threads. Fills `stats` and returns the indicators of every shard.
pub(crate) fn mine_parallel<R: Read + Send>(
    input: Input<'_, R>,
    config: &Config,
    workers: usize,
    stats: &mut MineStats,
) -> (IndicatorSets, Result<(), CaptureError>) {
    let workers = workers.max(1);
    let chunk_len = config.chunk_len.max(1);
    let (file, stream) = match input {
        Input::File(file) => (Some(file), None),
        Input::Stream(stream) => (None, Some(stream)),
    };
    // Polling only pays when every worker has a core of its own, and not while
    // the worker in turn may wait for a stream's writer, which needs a core too.
    let cores = thread::available_parallelism().map_or(1, |cores| cores.get());
    let spins = if workers <= cores && file.is_some() {
        SPINS_BEFORE_SLEEP
    } else {
        0
    };
    let shared = Shared {
        framing: InOrder::new(
            spins,
            Framing {
                framer: None,
                stream,
                carry: Vec::new(),
                carry_offset: 0,
                ending: None,
            },
        ),
        defrag: InOrder::new(spins, Decoder::new(config.defrag_limits)),
        board: Mutex::new(Board::default()),
        board_changed: Condvar::new(),
        next_chunk: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        file,
        chunk_len,
        workers,
    };

    let finished: Vec<(DecodeStats, Shard)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|own| {
                let shard = Shard::new(config, workers);
                let shared = &shared;
                scope.spawn(move || run_worker(shared, shard, own))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle.join() {
                Ok(finished) => finished,
                // A worker panicked: that is a bug, so the panic goes on here.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut shards = Vec::with_capacity(workers);
    for (worker_stats, shard) in finished {
        stats.decode.add(&worker_stats);
        shards.push(shard);
    }

    let Shared {
        framing, defrag, ..
    } = shared;
    let mut framing = framing.into_inner();
    let mut decoder = defrag.into_inner();

    let outcome = finish_reading(&mut framing, file, &mut decoder, &mut shards, stats);
    stats.decode.add(&decoder.stats());

    // Ending the connections left open is parsing too: each shard does its own at once.
    let last_packet = stats.packets;
    let results: Vec<ShardResult> = thread::scope(|scope| {
        let handles: Vec<_> = shards
            .into_iter()
            .map(|shard| scope.spawn(move || shard.finish(last_packet)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut indicators = IndicatorSets::with_max_values(config.max_results);
    for result in results {
        result.add_to(stats, &mut indicators);
    }
    (indicators, outcome)
}

/// Takes the counters from the framer, and reads with one thread what the
/// framer could not take: the whole capture when it did not start, or the
/// rest from where it stopped.
fn finish_reading<R: Read + Send>(
    framing: &mut Framing<R>,
    file: Option<&File>,
    decoder: &mut Decoder,
    shards: &mut [Shard],
    stats: &mut MineStats,
) -> Result<(), CaptureError> {
    let ending = framing.ending.unwrap_or(Ending::End);
    let carry = std::mem::take(&mut framing.carry);
    let stream = framing.stream.take();
    if let Some(framer) = &framing.framer {
        stats.packets = framer.packets();
        stats.bytes = framer.next_offset();
        stats.orphan_packets = framer.orphan_packets();
    }
    let mut reader = match (ending, &framing.framer) {
        (Ending::End, _) => return Ok(()),
        (Ending::Stop { offset }, Some(framer)) => {
            let rest = rest_of_input(file, offset, carry, stream);
            framer.resume(rest)?
        }
        _ => CaptureReader::new(rest_of_input(file, 0, carry, stream))?,
    };

    let workers = shards.len();
    miner::read_packets(&mut reader, stats, &mut |packet| {
        decoder.decode(packet, &mut |transport| {
            let (a, b) = endpoints(&transport);
            shards[shard_of(a, b, workers)].transport(packet.number, transport);
        });
    })
}

/// Returns the capture from `offset` on: a file read from there, or the
/// bytes a worker kept followed by the rest of the stream.
fn rest_of_input<'a, R: Read + Send + 'a>(
    file: Option<&'a File>,
    offset: u64,
    carry: Vec<u8>,
    stream: Option<R>,
) -> Box<dyn Read + Send + 'a> {
    match (file, stream) {
        (Some(file), _) => Box::new(FileAt {
            file,
            position: offset,
        }),
        (None, Some(stream)) => Box::new(io::Cursor::new(carry).chain(stream)),
        (None, None) => Box::new(io::Cursor::new(carry)),
    }
}

/// State shared by the workers.
struct Shared<'f, R> {
    framing: InOrder<Framing<R>>,
    /// Reassembles the IP fragments that workers set aside.
    defrag: InOrder<Decoder>,
    board: Mutex<Board>,
    board_changed: Condvar,
    /// Index of the next chunk a worker takes.
    next_chunk: AtomicU64,
    /// A worker panicked: the others stop waiting and return.
    failed: AtomicBool,
    file: Option<&'f File>,
    chunk_len: usize,
    /// Number of workers, and of shards: worker `n` owns shard `n`.
    workers: usize,
}

/// Framing state, handed from chunk to chunk in capture order.
struct Framing<R> {
    /// `None` until the first chunk is framed.
    framer: Option<Framer>,
    stream: Option<R>,
    /// Stream bytes read past the last record taken: the start of the next chunk.
    carry: Vec<u8>,
    /// Capture offset of `carry[0]`.
    carry_offset: u64,
    /// Set once no more chunks follow.
    ending: Option<Ending>,
}

/// Reason no more chunks follow.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The capture ended after a whole record.
    End,
    /// The record at `offset` needs the buffered reader, and `carry` contains the stream bytes from there.
    Stop { offset: u64 },
    /// The first bytes are not the start of a capture the framer accepts, and `carry` contains the stream bytes read.
    NotStarted,
}

/// Most chunks taken and not yet mined by every shard, per worker.
const CHUNKS_IN_FLIGHT_PER_WORKER: usize = 2;

/// A TCP segment or UDP datagram decoded from a chunk, its payload in the chunk's bytes.
#[derive(Debug, Clone, Copy)]
struct Unit {
    packet: u64,
    source: SocketAddr,
    destination: SocketAddr,
    payload_start: usize,
    payload_len: usize,
    /// TCP fields, zero for a UDP datagram.
    sequence: u32,
    acknowledgment: u32,
    wire_payload_len: u32,
    flags: TcpFlags,
    is_tcp: bool,
}

impl Unit {
    /// Describes `transport`, whose payload starts at `payload_start` of the chunk's bytes.
    fn new(packet: u64, transport: &Transport<'_>, payload_start: usize) -> Self {
        match transport {
            Transport::Tcp(segment) => Unit {
                packet,
                source: segment.source,
                destination: segment.destination,
                payload_start,
                payload_len: segment.payload.len(),
                sequence: segment.sequence,
                acknowledgment: segment.acknowledgment,
                wire_payload_len: segment.wire_payload_len,
                flags: segment.flags,
                is_tcp: true,
            },
            Transport::Udp(datagram) => Unit {
                packet,
                source: datagram.source,
                destination: datagram.destination,
                payload_start,
                payload_len: datagram.payload.len(),
                sequence: 0,
                acknowledgment: 0,
                wire_payload_len: 0,
                flags: TcpFlags::default(),
                is_tcp: false,
            },
        }
    }

    /// Rebuilds the segment or datagram with its payload from the chunk's bytes.
    fn transport<'a>(&self, data: &'a [u8]) -> Transport<'a> {
        let payload = data
            .get(self.payload_start..self.payload_start + self.payload_len)
            .unwrap_or_default();
        if self.is_tcp {
            Transport::Tcp(TcpSegment {
                source: self.source,
                destination: self.destination,
                sequence: self.sequence,
                acknowledgment: self.acknowledgment,
                flags: self.flags,
                payload,
                wire_payload_len: self.wire_payload_len,
            })
        } else {
            Transport::Udp(UdpDatagram {
                source: self.source,
                destination: self.destination,
                payload,
            })
        }
    }
}

/// A TCP segment or UDP datagram that owns its payload: one rebuilt from IP fragments.
struct Rebuilt {
    packet: u64,
    shard: usize,
    source: SocketAddr,
    destination: SocketAddr,
    /// Sequence and acknowledgment numbers, flags and length on the wire, or `None` for UDP.
    tcp: Option<(u32, u32, TcpFlags, u32)>,
    payload: Vec<u8>,
}

impl Rebuilt {
    fn new(packet: u64, shard: usize, transport: &Transport<'_>) -> Self {
        let (source, destination, tcp, payload) = match transport {
            Transport::Tcp(segment) => (
                segment.source,
                segment.destination,
                Some((
                    segment.sequence,
                    segment.acknowledgment,
                    segment.flags,
                    segment.wire_payload_len,
                )),
                segment.payload,
            ),
            Transport::Udp(datagram) => (
                datagram.source,
                datagram.destination,
                None,
                datagram.payload,
            ),
        };
        Rebuilt {
            packet,
            shard,
            source,
            destination,
            tcp,
            payload: payload.to_vec(),
        }
    }

    fn transport(&self) -> Transport<'_> {
        match self.tcp {
            Some((sequence, acknowledgment, flags, wire_payload_len)) => {
                Transport::Tcp(TcpSegment {
                    source: self.source,
                    destination: self.destination,
                    sequence,
                    acknowledgment,
                    flags,
                    payload: &self.payload,
                    wire_payload_len,
                })
            }
            None => Transport::Udp(UdpDatagram {
                source: self.source,
                destination: self.destination,
                payload: &self.payload,
            }),
        }
    }
}

/// A decoded chunk: its bytes, and for each shard the segments and datagrams that go there.
#[derive(Default)]
struct Decoded {
    index: u64,
    chunk: Chunk,
    /// One list per shard, in packet order.
    units: Vec<Vec<Unit>>,
    /// Datagrams rebuilt from fragments, in packet order.
    rebuilt: Vec<Rebuilt>,
}

/// Decoded chunks waiting for their shards, and the buffers of finished ones.
#[derive(Default)]
struct Board {
    /// Decoded chunks by index, each with the number of shards yet to mine it.
    ready: BTreeMap<u64, (Arc<Decoded>, usize)>,
    /// Chunks taken by a worker and not yet mined by every shard.
    in_flight: usize,
    /// Number of chunks in the capture, once framing has ended.
    chunks: Option<u64>,
    /// Buffers of chunks that every shard has mined, for reuse.
    spare: Vec<Decoded>,
    /// Workers waiting for a change on the board.
    waiting: usize,
}

/// A worker's next move.
enum Move {
    /// Mine the worker's shard of this chunk.
    Mine(Arc<Decoded>),
    /// Take a new chunk and decode it into these buffers.
    Decode(Decoded),
    /// Every chunk is mined, or a worker failed.
    Stop,
}

impl<R> Shared<'_, R> {
    fn board(&self) -> MutexGuard<'_, Board> {
        // A poisoned lock means a worker panicked, and that panic is re-raised at join.
        self.board
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Picks a worker's next move. Mining chunk `next_own` for its shard
    /// comes first, then decoding a new chunk while few are in flight. It
    /// waits when neither can be done yet.
    fn next_move(&self, next_own: u64) -> Move {
        let mut board = self.board();
        loop {
            if self.failed.load(Ordering::Relaxed) {
                return Move::Stop;
            }
            if let Some((decoded, _)) = board.ready.get(&next_own) {
                return Move::Mine(Arc::clone(decoded));
            }
            match board.chunks {
                Some(chunks) if next_own >= chunks => return Move::Stop,
                None if board.in_flight < self.workers * CHUNKS_IN_FLIGHT_PER_WORKER => {
                    board.in_flight += 1;
                    let mut decoded = board.spare.pop().unwrap_or_default();
                    decoded.units.resize_with(self.workers, Vec::new);
                    return Move::Decode(decoded);
                }
                _ => {}
            }
            board.waiting += 1;
            board = self
                .board_changed
                .wait(board)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            board.waiting -= 1;
        }
    }

    /// Makes a decoded chunk available to every shard.
    fn publish(&self, decoded: Decoded) {
        let mut board = self.board();
        board
            .ready
            .insert(decoded.index, (Arc::new(decoded), self.workers));
        self.changed(board);
    }

    /// Records that one shard mined chunk `index`. The last shard frees the chunk's buffers.
    fn mined(&self, index: u64) {
        let mut board = self.board();
        let Some((_, remaining)) = board.ready.get_mut(&index) else {
            return;
        };
        *remaining -= 1;
        if *remaining == 0 {
            if let Some((decoded, _)) = board.ready.remove(&index) {
                if let Ok(mut decoded) = Arc::try_unwrap(decoded) {
                    // A chunk that held a long record gives back what others do not need.
                    decoded.chunk.shrink_to(2 * self.chunk_len);
                    board.spare.push(decoded);
                }
            }
            board.in_flight -= 1;
        }
        self.changed(board);
    }

    /// Gives back a chunk taken after framing ended, which contains no records.
    fn abandon(&self, decoded: Decoded) {
        let mut board = self.board();
        board.in_flight -= 1;
        board.spare.push(decoded);
        self.changed(board);
    }

    /// Records that the capture has `chunks` chunks: none is taken beyond.
    fn set_chunks(&self, chunks: u64) {
        let mut board = self.board();
        board.chunks = Some(chunks);
        self.changed(board);
    }

    fn changed(&self, board: MutexGuard<'_, Board>) {
        let wake = board.waiting > 0;
        drop(board);
        if wake {
            self.board_changed.notify_all();
        }
    }
}

/// Mines the worker's shard, `own`, of every chunk in capture order, and
/// decodes new chunks in between. Returns the worker's decoding counters and its shard.
fn run_worker<R: Read + Send>(
    shared: &Shared<'_, R>,
    mut shard: Shard,
    own: usize,
) -> (DecodeStats, Shard) {
    // Wakes the other workers if this one panics, so that they stop waiting.
    let _alarm = PanicAlarm(shared);
    let mut decoder = Decoder::holding_fragments();
    let mut packets = Vec::new();
    let mut held_fragments = Vec::new();
    let mut next_own = 0u64;
    loop {
        match shared.next_move(next_own) {
            Move::Stop => break,
            Move::Mine(decoded) => {
                mine_units(&mut shard, own, &decoded);
                let index = decoded.index;
                drop(decoded);
                shared.mined(index);
                next_own += 1;
            }
            Move::Decode(mut decoded) => {
                decoded.index = shared.next_chunk.fetch_add(1, Ordering::Relaxed);
                if !decode_next_chunk(
                    shared,
                    &mut decoder,
                    &mut decoded,
                    &mut packets,
                    &mut held_fragments,
                ) {
                    shared.abandon(decoded);
                    continue;
                }
                shared.publish(decoded);
            }
        }
    }
    (decoder.stats(), shard)
}

/// Reads, frames and decodes chunk `decoded.index`. Returns false when it is
/// past the end of the capture or a worker failed.
fn decode_next_chunk<R: Read + Send>(
    shared: &Shared<'_, R>,
    decoder: &mut Decoder,
    decoded: &mut Decoded,
    packets: &mut Vec<FramedPacket>,
    held_fragments: &mut Vec<(u64, HeldFragment)>,
) -> bool {
    let index = decoded.index;
    packets.clear();
    if let Some(file) = shared.file {
        read_file_chunk(file, &mut decoded.chunk, index, shared.chunk_len);
    }
    let framed = shared
        .framing
        .run_closing(index, &shared.failed, |framing| {
            let goes_on = frame_chunk(framing, shared, &mut decoded.chunk, packets);
            (goes_on, goes_on)
        });
    let Some(goes_on) = framed else {
        return false;
    };
    if !goes_on {
        shared.set_chunks(index + 1);
    }

    decode_chunk(decoder, decoded, packets, held_fragments);
    reassemble_held(
        shared,
        index,
        held_fragments,
        &mut decoded.rebuilt,
        shared.workers,
    )
}

/// Reads chunk `index` of a file. Bytes past the end of the file are absent from the chunk.
///
/// NOTE: a record longer than a chunk is read twice: by the chunks its bytes
/// fall in, and by the chunk it starts in while one worker at a time frames
/// that chunk. A capture of such records (over 256 KiB each, more than any
/// snap length libpcap allows) is mined slower on several threads than on one.
fn read_file_chunk(file: &File, chunk: &mut Chunk, index: u64, chunk_len: usize) {
    chunk.start_at(index.saturating_mul(chunk_len as u64));
    // A read error shows again when the framer requests these bytes, and the resumed reader reports it.
    let _ = FileAt {
        file,
        position: chunk.base,
    }
    .read_more(chunk, chunk_len);
}

/// Frames the worker's chunk in its turn. Returns true while more chunks follow.
fn frame_chunk<R: Read>(
    framing: &mut Framing<R>,
    shared: &Shared<'_, R>,
    chunk: &mut Chunk,
    packets: &mut Vec<FramedPacket>,
) -> bool {
    let is_stream = framing.stream.is_some();
    let mut more: Box<dyn MoreBytes + '_> = match (&mut framing.stream, shared.file) {
        (Some(stream), _) => {
            chunk.start_at(framing.carry_offset);
            chunk.push_bytes(&framing.carry);
            Box::new(StreamMore(stream))
        }
        (None, Some(file)) => Box::new(FileAt { file, position: 0 }),
        (None, None) => return false,
    };
    if is_stream {
        let target_len = chunk.bytes().len() + shared.chunk_len;
        let _ = more.read_more(chunk, target_len);
    }

    if framing.framer.is_none() {
        // Room for the file header or the first section header block, however small the chunks.
        let _ = more.read_more(chunk, FIRST_CHUNK_LEN);
        match Framer::start(chunk.bytes()) {
            Some(framer) => framing.framer = Some(framer),
            None => {
                framing.carry = chunk.bytes().to_vec();
                framing.ending = Some(Ending::NotStarted);
                return false;
            }
        }
    }
    let Some(framer) = framing.framer.as_mut() else {
        return false;
    };
    // A stream chunk takes the records that start in what was read, and an empty one ends the capture.
    let range_end = if is_stream {
        chunk.end().max(chunk.base + 1)
    } else {
        chunk.base.saturating_add(shared.chunk_len as u64)
    };
    let framed = framer.frame(chunk, range_end, more.as_mut(), packets);
    drop(more);

    // Stream bytes past the last record taken begin the next chunk, or the resumed reader's input.
    let next = framer.next_offset();
    if is_stream {
        let keep_from = usize::try_from(next.saturating_sub(chunk.base)).unwrap_or(usize::MAX);
        framing.carry = chunk.bytes().get(keep_from..).unwrap_or_default().to_vec();
        framing.carry_offset = next;
    }
    match framed {
        Framed::Next => true,
        Framed::End => {
            framing.ending = Some(Ending::End);
            false
        }
        Framed::Stop { offset } => {
            framing.ending = Some(Ending::Stop { offset });
            false
        }
    }
}

/// Decodes the chunk's packets into the shard lists, setting IP fragments aside.
fn decode_chunk(
    decoder: &mut Decoder,
    decoded: &mut Decoded,
    packets: &[FramedPacket],
    held_fragments: &mut Vec<(u64, HeldFragment)>,
) {
    let Decoded {
        chunk,
        units,
        rebuilt,
        ..
    } = decoded;
    for list in units.iter_mut() {
        list.clear();
    }
    held_fragments.clear();
    rebuilt.clear();
    let shards = units.len();
    let data = chunk.bytes();
    let data_start = data.as_ptr() as usize;
    for framed in packets {
        let packet = framed.packet(data);
        decoder.decode(&packet, &mut |transport| {
            let (a, b) = endpoints(&transport);
            let shard = shard_of(a, b, shards);
            // The payload lies in the chunk: only reassembly makes others, and
            // this decoder keeps fragments aside.
            let (Transport::Tcp(TcpSegment { payload, .. })
            | Transport::Udp(UdpDatagram { payload, .. })) = transport;
            let start = (payload.as_ptr() as usize).wrapping_sub(data_start);
            if start <= data.len() && payload.len() <= data.len() - start {
                units[shard].push(Unit::new(packet.number, &transport, start));
            } else {
                rebuilt.push(Rebuilt::new(packet.number, shard, &transport));
            }
        });
        if decoder.holds_fragments() {
            held_fragments.extend(
                decoder
                    .take_held()
                    .map(|fragment| (packet.number, fragment)),
            );
        }
    }
}

/// Feeds the fragments set aside to the reassembling decoder in capture
/// order, keeping the datagrams rebuilt. Returns false if a worker failed.
fn reassemble_held<R>(
    shared: &Shared<'_, R>,
    index: u64,
    held_fragments: &[(u64, HeldFragment)],
    rebuilt: &mut Vec<Rebuilt>,
    shards: usize,
) -> bool {
    if held_fragments.is_empty() {
        return shared.defrag.pass(index, &shared.failed);
    }
    let done = shared.defrag.run(index, &shared.failed, |decoder| {
        for (number, fragment) in held_fragments {
            decoder.reassemble(fragment, &mut |transport| {
                let (a, b) = endpoints(&transport);
                rebuilt.push(Rebuilt::new(*number, shard_of(a, b, shards), &transport));
            });
        }
    });
    // A stable sort keeps the units of one packet in order.
    rebuilt.sort_by_key(|unit| unit.packet);
    done.is_some()
}

/// Runs shard `own`'s units of a chunk through the shard's connection table.
fn mine_units(shard: &mut Shard, own: usize, decoded: &Decoded) {
    let data = decoded.chunk.bytes();
    // Merge the rebuilt datagrams in by packet number. No packet has both kinds.
    let mut rebuilt = decoded
        .rebuilt
        .iter()
        .filter(|unit| unit.shard == own)
        .peekable();
    for unit in decoded.units.get(own).into_iter().flatten() {
        while let Some(early) = rebuilt.next_if(|early| early.packet < unit.packet) {
            shard.transport(early.packet, early.transport());
        }
        shard.transport(unit.packet, unit.transport(data));
    }
    for unit in rebuilt {
        shard.transport(unit.packet, unit.transport());
    }
}

fn endpoints(transport: &Transport<'_>) -> (SocketAddr, SocketAddr) {
    match transport {
        Transport::Tcp(segment) => (segment.source, segment.destination),
        Transport::Udp(datagram) => (datagram.source, datagram.destination),
    }
}

/// Times a worker polls for its turn before it sleeps: some tens of microseconds.
const SPINS_BEFORE_SLEEP: u32 = 2_000;

/// State that chunks pass through one at a time, in capture order.
///
/// The turn bookkeeping has its own lock, held only while a turn is checked
/// or handed on, so letting a chunk pass without work does not wait for
/// another worker's step.
struct InOrder<T> {
    turns: Mutex<Turns>,
    turn: Condvar,
    /// A copy of `Turns::next`, for waiting workers to poll without the lock.
    next: AtomicU64,
    /// Times a waiting worker polls `next` before it sleeps.
    spins: u32,
    /// Locked only by the chunk whose turn it is, so never contended.
    value: Mutex<T>,
}

struct Turns {
    /// Index of the chunk whose turn it is.
    next: u64,
    /// Later chunks that passed without work, ahead of their turn.
    passed: BTreeSet<u64>,
    /// No chunk takes a turn any more.
    closed: bool,
    /// Workers waiting for their turn. When there are none, no wake-up is sent.
    waiting: usize,
}

impl Turns {
    fn advance(&mut self) {
        self.next += 1;
        while self.passed.remove(&self.next) {
            self.next += 1;
        }
    }
}

impl<T> InOrder<T> {
    fn new(spins: u32, value: T) -> Self {
        InOrder {
            turns: Mutex::new(Turns {
                next: 0,
                passed: BTreeSet::new(),
                closed: false,
                waiting: 0,
            }),
            turn: Condvar::new(),
            next: AtomicU64::new(0),
            spins,
            value: Mutex::new(value),
        }
    }

    fn turns(&self) -> MutexGuard<'_, Turns> {
        // A poisoned lock means a worker panicked, and that panic is re-raised at join.
        self.turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn value(&self) -> MutexGuard<'_, T> {
        self.value
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `step` in chunk `index`'s turn. Returns `None` when the turns closed or a worker failed first.
    fn run<S>(&self, index: u64, failed: &AtomicBool, step: impl FnOnce(&mut T) -> S) -> Option<S> {
        self.run_closing(index, failed, |value| (step(value), true))
    }

    /// Like [`run`](Self::run), for a step that also returns whether later chunks get turns.
    fn run_closing<S>(
        &self,
        index: u64,
        failed: &AtomicBool,
        step: impl FnOnce(&mut T) -> (S, bool),
    ) -> Option<S> {
        // Turns usually come within a step's time: polling for a moment spares
        // the sleep and the wake-up that would each cost about as much.
        for _ in 0..self.spins {
            if self.next.load(Ordering::Acquire) >= index {
                break;
            }
            std::hint::spin_loop();
        }
        let mut turns = self.turns();
        while turns.next != index && !turns.closed && !failed.load(Ordering::Relaxed) {
            turns.waiting += 1;
            turns = self
                .turn
                .wait(turns)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            turns.waiting -= 1;
        }
        if turns.closed || turns.next != index {
            return None;
        }
        drop(turns);

        let (result, goes_on) = step(&mut self.value());
        self.advance(!goes_on);
        Some(result)
    }

    /// Lets chunk `index` pass without work, in its turn or ahead of it. Returns false if a worker failed.
    fn pass(&self, index: u64, failed: &AtomicBool) -> bool {
        let mut turns = self.turns();
        if turns.next == index {
            drop(turns);
            self.advance(false);
        } else {
            turns.passed.insert(index);
        }
        !failed.load(Ordering::Relaxed)
    }

    /// Gives the turn to the next chunk, waking the workers waiting for one.
    /// With `close`, no later chunk gets a turn.
    fn advance(&self, close: bool) {
        let mut turns = self.turns();
        turns.closed |= close;
        turns.advance();
        self.next.store(turns.next, Ordering::Release);
        let wake = turns.waiting > 0;
        drop(turns);
        if wake {
            self.turn.notify_all();
        }
    }

    /// Wakes every waiting worker, to see that a worker failed.
    fn wake_all(&self) {
        drop(self.turns());
        self.turn.notify_all();
    }

    fn into_inner(self) -> T {
        self.value
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sets the failure flag and wakes every waiting worker when its worker panics.
struct PanicAlarm<'s, 'f, R>(&'s Shared<'f, R>);

impl<R> Drop for PanicAlarm<'_, '_, R> {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        let shared = self.0;
        shared.failed.store(true, Ordering::Relaxed);
        shared.framing.wake_all();
        shared.defrag.wake_all();
        drop(shared.board());
        shared.board_changed.notify_all();
    }
}

/// Reads a file from a position without moving the file's own cursor, so workers share one handle.
struct FileAt<'f> {
    file: &'f File,
    position: u64,
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = read_at(self.file, buf, self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

impl MoreBytes for FileAt<'_> {
    fn read_more(&mut self, chunk: &mut Chunk, target_len: usize) -> io::Result<usize> {
        self.position = chunk.end();
        chunk.fill_from(self, target_len)
    }
}

/// Reads a stream onward.
struct StreamMore<'s, R>(&'s mut R);

impl<R: Read> MoreBytes for StreamMore<'_, R> {
    fn read_more(&mut self, chunk: &mut Chunk, target_len: usize) -> io::Result<usize> {
        chunk.fill_from(self.0, target_len)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Picks the shard of a unit, the same for both directions of a flow.
fn shard_of(a: SocketAddr, b: SocketAddr, shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    // XOR makes the result independent of direction. The multiplication mixes
    // every input bit into the high half, which picks the shard.
    let hash = (endpoint_bits(a) ^ endpoint_bits(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (((hash >> 32) * shards as u64) >> 32) as usize
}

/// Folds an endpoint's address and port into 64 bits.
fn endpoint_bits(endpoint: SocketAddr) -> u64 {
    let port = u64::from(endpoint.port()) << 32;
    match endpoint {
        SocketAddr::V4(v4) => u64::from(u32::from(*v4.ip())) ^ port,
        SocketAddr::V6(v6) => {
            let bits = u128::from(*v6.ip());
            (bits as u64) ^ ((bits >> 64) as u64).rotate_left(17) ^ port
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_same_for_both_directions() {
        let a: SocketAddr = "10.0.0.2:49152".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        for shards in 1..8 {
            assert_eq!(shard_of(a, b, shards), shard_of(b, a, shards));
        }
    }

    #[test]
    fn shard_spreads_ports() {
        let server: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let mut counts = [0usize; 4];
        for port in 40_000..44_000u16 {
            let client = SocketAddr::new("10.0.0.2".parse().unwrap(), port);
            counts[shard_of(client, server, 4)] += 1;
        }
        assert!(counts.iter().all(|&count| count > 800), "{counts:?}");
    }
}
