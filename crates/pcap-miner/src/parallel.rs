//! Mining on several threads.
//!
//! The calling thread reads and decodes packets, then deals each TCP segment
//! and UDP datagram to a worker chosen by a symmetric hash of its two
//! endpoints, so both directions of a connection meet on the same worker.
//! Workers track connections and run the application parsers. Every
//! connection's packets reach its worker in capture order, so the merged
//! result equals that of one thread.
//!
//! NOTE: each worker gets an equal share of the memory limits. When traffic
//! hashes unevenly and a limit is reached, one worker may evict connections
//! that one thread would have kept, and the results then differ.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

use ipnetwork::IpNetwork;

use crate::app::{self, ClientStream, Findings};
use crate::capture::{CaptureError, CaptureReader};
use crate::config::{Config, IgnoreList};
use crate::decode::{Decoder, TcpFlags, TcpSegment, Transport};
use crate::flow::{FlowStats, FlowTable};
use crate::indicators::{value_of, IndicatorSets};
use crate::miner::MineStats;

/// Payload bytes a batch collects before it is sent to its worker.
const BATCH_BYTES: usize = 256 * 1024;
/// Units a batch collects before it is sent to its worker.
const BATCH_UNITS: usize = 2048;
/// Batches in flight to one worker; bounds the memory between reader and workers.
const BATCHES_IN_FLIGHT: usize = 4;

/// One TCP segment or UDP datagram, its payload in the batch's byte buffer.
#[derive(Debug, Clone, Copy)]
struct Unit {
    packet: u64,
    source: SocketAddr,
    destination: SocketAddr,
    /// `None` for a UDP datagram.
    tcp: Option<TcpFields>,
    payload_start: usize,
    payload_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct TcpFields {
    sequence: u32,
    acknowledgment: u32,
    flags: TcpFlags,
    wire_payload_len: u32,
}

#[derive(Debug, Default)]
struct Batch {
    units: Vec<Unit>,
    bytes: Vec<u8>,
}

impl Batch {
    fn push(&mut self, packet: u64, transport: &Transport<'_>) {
        let (source, destination, payload, tcp) = match transport {
            Transport::Tcp(segment) => (
                segment.source,
                segment.destination,
                segment.payload,
                Some(TcpFields {
                    sequence: segment.sequence,
                    acknowledgment: segment.acknowledgment,
                    flags: segment.flags,
                    wire_payload_len: segment.wire_payload_len,
                }),
            ),
            Transport::Udp(datagram) => (
                datagram.source,
                datagram.destination,
                datagram.payload,
                None,
            ),
        };
        self.units.push(Unit {
            packet,
            source,
            destination,
            tcp,
            payload_start: self.bytes.len(),
            payload_len: payload.len(),
        });
        self.bytes.extend_from_slice(payload);
    }

    fn is_full(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES || self.units.len() >= BATCH_UNITS
    }
}

/// Result of one worker.
struct ShardResult {
    indicators: IndicatorSets,
    flows: FlowStats,
    findings: Findings,
    tcp_segments: u64,
    udp_datagrams: u64,
}

/// Connection tracking and parsing for the connections dealt to one worker.
struct Shard {
    flows: FlowTable<ClientStream>,
    findings: Findings,
    indicators: IndicatorSets,
    vm_networks: Vec<IpNetwork>,
    ignore_list: IgnoreList,
    tcp_segments: u64,
    udp_datagrams: u64,
}

impl Shard {
    fn new(config: &Config, workers: usize) -> Self {
        // The limits hold for the whole run: each worker gets its share.
        let mut limits = config.flow_limits;
        limits.max_connections = (limits.max_connections / workers).max(1);
        limits.max_total_buffer = (limits.max_total_buffer / workers).max(1);
        let mut stream_limits = config.stream_limits;
        stream_limits.max_total_head_bytes = (stream_limits.max_total_head_bytes / workers).max(1);
        Shard {
            flows: FlowTable::new(limits),
            findings: Findings::new(config.key_log.clone(), stream_limits),
            indicators: IndicatorSets::with_max_values(config.max_results),
            vm_networks: config.vm_networks.clone(),
            ignore_list: config.ignore_list.clone(),
            tcp_segments: 0,
            udp_datagrams: 0,
        }
    }

    fn batch(&mut self, batch: &Batch) {
        for unit in &batch.units {
            let payload = &batch.bytes[unit.payload_start..unit.payload_start + unit.payload_len];
            match unit.tcp {
                Some(tcp) => {
                    self.tcp_segments += 1;
                    let segment = TcpSegment {
                        source: unit.source,
                        destination: unit.destination,
                        sequence: tcp.sequence,
                        acknowledgment: tcp.acknowledgment,
                        flags: tcp.flags,
                        payload,
                        wire_payload_len: tcp.wire_payload_len,
                    };
                    self.flows
                        .segment(&segment, unit.packet, &mut self.findings);
                }
                None => {
                    self.udp_datagrams += 1;
                    app::mine_datagram(unit.source, unit.destination, payload, &mut self.findings);
                }
            }
            self.collect(unit.packet);
        }
    }

    fn collect(&mut self, packet: u64) {
        for finding in self.findings.drain() {
            let (kind, value, packet) = value_of(finding, packet, &self.vm_networks);
            if !self.ignore_list.matches(kind, &value) {
                self.indicators.insert_seen(kind, value, packet);
            }
        }
    }

    fn finish(mut self, last_packet: u64) -> ShardResult {
        self.flows.finish_all(&mut self.findings);
        self.collect(last_packet);
        ShardResult {
            indicators: self.indicators,
            flows: self.flows.stats(),
            findings: self.findings,
            tcp_segments: self.tcp_segments,
            udp_datagrams: self.udp_datagrams,
        }
    }
}

/// Picks the worker of a unit; the same for both directions of a flow.
fn shard_of(a: SocketAddr, b: SocketAddr, workers: usize) -> usize {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut mix = |value: u64| {
        hash = (hash ^ value).wrapping_mul(0x0000_0100_0000_01b3);
        hash ^= hash >> 29;
    };
    for address in [low, high] {
        match address.ip() {
            IpAddr::V4(v4) => mix(u64::from(u32::from(v4))),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                mix(bits as u64);
                mix((bits >> 64) as u64);
            }
        }
        mix(u64::from(address.port()));
    }
    (hash % workers as u64) as usize
}

/// Reads and decodes on this thread, mines on `workers` threads; fills `stats` and returns the merged indicators.
pub(crate) fn mine_parallel<R: std::io::Read + Send>(
    input: R,
    config: &Config,
    workers: usize,
    stats: &mut MineStats,
) -> (IndicatorSets, Result<(), CaptureError>) {
    let workers = workers.max(1);
    thread::scope(|scope| {
        let mut senders: Vec<SyncSender<Batch>> = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (sender, receiver): (SyncSender<Batch>, Receiver<Batch>) =
                mpsc::sync_channel(BATCHES_IN_FLIGHT);
            senders.push(sender);
            handles.push(scope.spawn(move || {
                let mut shard = Shard::new(config, workers);
                let mut last_packet = 0;
                for batch in receiver {
                    last_packet = batch.units.last().map_or(last_packet, |unit| unit.packet);
                    shard.batch(&batch);
                }
                (shard, last_packet)
            }));
        }

        let outcome = read_and_deal(input, config, &senders, stats);
        drop(senders);

        let last_packet = stats.packets;
        let mut indicators = IndicatorSets::new();
        for handle in handles {
            let (shard, _) = match handle.join() {
                Ok(result) => result,
                // A worker panicked: that is a bug, so the panic goes on here.
                Err(panic) => std::panic::resume_unwind(panic),
            };
            let result = shard.finish(last_packet);
            merge_shard(stats, &mut indicators, result);
        }
        (indicators, outcome)
    })
}

fn read_and_deal<R: std::io::Read + Send>(
    input: R,
    config: &Config,
    senders: &[SyncSender<Batch>],
    stats: &mut MineStats,
) -> Result<(), CaptureError> {
    let workers = senders.len();
    let mut batches: Vec<Batch> = (0..workers).map(|_| Batch::default()).collect();
    let mut decoder = Decoder::new(config.defrag_limits);
    let mut reader = CaptureReader::new(input)?;
    let mut first_error = None;

    loop {
        match reader.next_packet() {
            Ok(Some(packet)) => {
                stats.packets += 1;
                decoder.decode(&packet, &mut |transport| {
                    let (a, b) = match &transport {
                        Transport::Tcp(segment) => (segment.source, segment.destination),
                        Transport::Udp(datagram) => (datagram.source, datagram.destination),
                    };
                    let shard = shard_of(a, b, workers);
                    batches[shard].push(packet.number, &transport);
                    if batches[shard].is_full() {
                        let full = std::mem::take(&mut batches[shard]);
                        // A closed channel means the worker died; its panic surfaces at join.
                        let _ = senders[shard].send(full);
                    }
                });
            }
            Ok(None) => break,
            Err(error) => {
                stats.damaged_records += 1;
                first_error.get_or_insert(error);
                if reader.is_finished() {
                    break;
                }
            }
        }
    }
    for (shard, batch) in batches.into_iter().enumerate() {
        if !batch.units.is_empty() {
            let _ = senders[shard].send(batch);
        }
    }
    stats.bytes = reader.offset();
    stats.orphan_packets = reader.orphan_packets();
    stats.decode = decoder.stats();
    first_error.map_or(Ok(()), Err)
}

fn merge_shard(stats: &mut MineStats, indicators: &mut IndicatorSets, result: ShardResult) {
    indicators.merge(result.indicators);
    stats.tcp_segments += result.tcp_segments;
    stats.udp_datagrams += result.udp_datagrams;
    stats.malformed_dns += result.findings.malformed_dns_names;
    stats.malformed_client_hellos += result.findings.malformed_client_hellos;
    stats.heads_cut += result.findings.heads_cut;
    stats.tls_decryption.add(&result.findings.tls_decryption);
    stats.quic.add(&result.findings.quic.stats);
    let flows = &mut stats.flows;
    flows.connections += result.flows.connections;
    flows.evicted_connections += result.flows.evicted_connections;
    flows.port_reuses += result.flows.port_reuses;
    flows.inconsistent_retransmissions += result.flows.inconsistent_retransmissions;
    flows.stream_gaps += result.flows.stream_gaps;
    flows.out_of_window_segments += result.flows.out_of_window_segments;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_same_for_both_directions() {
        let a: SocketAddr = "10.0.0.2:49152".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        for workers in 1..8 {
            assert_eq!(shard_of(a, b, workers), shard_of(b, a, workers));
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
