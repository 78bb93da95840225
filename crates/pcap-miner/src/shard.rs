//! Connection tracking, parsing and indicator collection for a set of
//! connections: all of them on one thread, one shard of them on several.

use ipnetwork::IpNetwork;

use crate::app::{self, ClientStream, Findings};
use crate::config::{Config, IgnoreList};
use crate::decode::Transport;
use crate::flow::{FlowStats, FlowTable};
use crate::indicators::{value_of, IndicatorSets};
use crate::miner::MineStats;

/// Connection table, parsers and indicator sets of one shard.
pub(crate) struct Shard {
    flows: FlowTable<ClientStream>,
    findings: Findings,
    indicators: IndicatorSets,
    vm_networks: Vec<IpNetwork>,
    ignore_list: IgnoreList,
    tcp_segments: u64,
    udp_datagrams: u64,
}

/// Values and counters of a shard, once its connections are ended.
pub(crate) struct ShardResult {
    indicators: IndicatorSets,
    flows: FlowStats,
    findings: Findings,
    tcp_segments: u64,
    udp_datagrams: u64,
}

impl Shard {
    /// Creates one of `shards` shards. The memory limits hold for the whole run, so each shard gets its share.
    ///
    /// A share of a total is never below the limit of one stream, so that a
    /// single stream in a shard is kept as on one thread.
    pub(crate) fn new(config: &Config, shards: usize) -> Self {
        let mut limits = config.flow_limits;
        limits.max_connections = (limits.max_connections / shards).max(1);
        limits.max_total_buffer = (limits.max_total_buffer / shards)
            .max(limits.max_stream_buffer.min(limits.max_total_buffer))
            .max(1);
        let mut stream_limits = config.stream_limits;
        stream_limits.max_total_head_bytes = (stream_limits.max_total_head_bytes / shards)
            .max(
                stream_limits
                    .max_head_len
                    .min(stream_limits.max_total_head_bytes),
            )
            .max(1);
        stream_limits.max_quic_connections = (stream_limits.max_quic_connections / shards).max(1);
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

    /// Tracks one segment or datagram of packet `packet` and collects what it reveals.
    pub(crate) fn transport(&mut self, packet: u64, transport: Transport<'_>) {
        match transport {
            Transport::Tcp(segment) => {
                self.tcp_segments += 1;
                self.flows.segment(&segment, packet, &mut self.findings);
            }
            Transport::Udp(datagram) => {
                self.udp_datagrams += 1;
                app::mine_datagram(
                    datagram.source,
                    datagram.destination,
                    datagram.payload,
                    &mut self.findings,
                );
            }
        }
        self.collect(packet);
    }

    /// Moves what the parsers found into the indicator sets, as seen in packet `packet`.
    ///
    /// Ignored values are dropped here, so they do not count towards `max_results`.
    fn collect(&mut self, packet: u64) {
        if self.findings.is_empty() {
            return;
        }
        for finding in self.findings.drain() {
            let (kind, value, packet) = value_of(finding, packet, &self.vm_networks);
            if !self.ignore_list.matches(kind, &value) {
                self.indicators.insert_seen(kind, value, packet);
            }
        }
    }

    /// Ends every connection. `last_packet` is the number of the capture's last packet.
    pub(crate) fn finish(mut self, last_packet: u64) -> ShardResult {
        self.flows.finish_all(&mut self.findings);
        // Findings made at the end carry their own packet numbers (TCP
        // connections) or belong to the last packet (requests cut short).
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

impl ShardResult {
    /// Adds the shard's values to `indicators` and its counters to `stats`.
    pub(crate) fn add_to(self, stats: &mut MineStats, indicators: &mut IndicatorSets) {
        indicators.merge(self.indicators);
        stats.tcp_segments += self.tcp_segments;
        stats.udp_datagrams += self.udp_datagrams;
        stats.malformed_dns += self.findings.malformed_dns_names;
        stats.malformed_client_hellos += self.findings.malformed_client_hellos;
        stats.heads_cut += self.findings.heads_cut;
        stats.tls_decryption.add(&self.findings.tls_decryption);
        stats.quic.add(&self.findings.quic.stats);
        let flows = &mut stats.flows;
        flows.connections += self.flows.connections;
        flows.evicted_connections += self.flows.evicted_connections;
        flows.port_reuses += self.flows.port_reuses;
        flows.inconsistent_retransmissions += self.flows.inconsistent_retransmissions;
        flows.stream_gaps += self.flows.stream_gaps;
        flows.out_of_window_segments += self.flows.out_of_window_segments;
    }
}
