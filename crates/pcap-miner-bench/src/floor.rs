//! The throughput floor: the least work any miner must do on a capture.
//!
//! It reads the capture with pcap-parser's streaming reader, decodes Ethernet,
//! IPv4/IPv6 and TCP/UDP headers with etherparse, and counts distinct
//! 5-tuples. Nothing is reassembled or parsed above the transport layer. The
//! comparison runner times `pcap-miner mine` against it.

use std::collections::HashSet;
use std::fs::File;
use std::process::ExitCode;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::{PcapBlockOwned, PcapError};

/// Source address, destination address, ports and protocol, as bytes.
type FiveTuple = ([u8; 16], [u8; 16], u16, u16, u8);

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: pcap-floor CAPTURE");
        return ExitCode::from(2);
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("pcap-floor: {}: {error}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    match count_flows(file) {
        Ok((packets, flows)) => {
            println!("{packets} packets, {flows} 5-tuples");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("pcap-floor: {}: {message}", path.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}

fn count_flows(file: File) -> Result<(u64, usize), String> {
    let mut reader = pcap_parser::create_reader(1 << 20, file).map_err(|e| e.to_string())?;
    let mut flows: HashSet<FiveTuple> = HashSet::new();
    let mut packets = 0u64;
    loop {
        match reader.next() {
            Ok((len, block)) => {
                let data = match &block {
                    PcapBlockOwned::Legacy(packet) => Some(packet.data),
                    PcapBlockOwned::NG(pcap_parser::Block::EnhancedPacket(packet)) => {
                        Some(packet.data)
                    }
                    _ => None,
                };
                if let Some(data) = data {
                    packets += 1;
                    if let Some(tuple) = five_tuple(data) {
                        flows.insert(tuple);
                    }
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => return Ok((packets, flows.len())),
            Err(PcapError::Incomplete(_)) => reader.refill().map_err(|e| e.to_string())?,
            Err(error) => return Err(error.to_string()),
        }
    }
}

fn five_tuple(frame: &[u8]) -> Option<FiveTuple> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    let (source, destination) = match packet.net? {
        NetSlice::Ipv4(ip) => (
            ip.header().source_addr().to_ipv6_mapped().octets(),
            ip.header().destination_addr().to_ipv6_mapped().octets(),
        ),
        NetSlice::Ipv6(ip) => (ip.header().source(), ip.header().destination()),
        _ => return None,
    };
    match packet.transport? {
        TransportSlice::Tcp(tcp) => Some((
            source,
            destination,
            tcp.source_port(),
            tcp.destination_port(),
            6,
        )),
        TransportSlice::Udp(udp) => Some((
            source,
            destination,
            udp.source_port(),
            udp.destination_port(),
            17,
        )),
        _ => None,
    }
}
