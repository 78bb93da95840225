//! Writes a classic pcap of a SYN flood: one SYN from each of N client
//! endpoints to one server, none ever acknowledged or closed, so every connection
//! stays open to the end. An HTTP request on a normal connection comes first
//! and a DNS query last, to show that mining goes on through the flood.
//!
//! Usage: pcap-synflood CONNECTIONS OUTPUT

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

const SERVER: [u8; 4] = [192, 0, 2, 80];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(count), Some(output)) = (args.next(), args.next()) else {
        eprintln!("usage: pcap-synflood CONNECTIONS OUTPUT");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u32>() else {
        eprintln!("pcap-synflood: CONNECTIONS must be a whole number, got {count:?}");
        return ExitCode::from(2);
    };
    match write_flood(count, &output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pcap-synflood: {output}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn write_flood(count: u32, output: &str) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    // pcap header: magic, version 2.4, zone, sigfigs, snaplen, link type Ethernet.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    for field in [0u32, 0, 65_535, 1] {
        out.write_all(&field.to_le_bytes())?;
    }

    let mut second = 1_700_000_000u32;
    let client = [10, 0, 0, 2];
    let request = b"GET /before-the-flood HTTP/1.1\r\nHost: flood.example\r\n\r\n";
    write_frame(
        &mut out,
        second,
        &tcp_frame(client, 40_000, SERVER, 80, 1_000, 0x02, b""),
    )?;
    write_frame(
        &mut out,
        second,
        &tcp_frame(SERVER, 80, client, 40_000, 9_000, 0x12, b""),
    )?;
    write_frame(
        &mut out,
        second,
        &tcp_frame(client, 40_000, SERVER, 80, 1_001, 0x18, request),
    )?;

    for index in 0..count {
        // Clients spread over 10.128.0.0/9 and ports 1024-65535.
        let host = 0x0a80_0000u32 | (index / 64_000);
        let port = 1_024 + (index % 64_000) as u16;
        if index % 100_000 == 0 {
            second += 1;
        }
        let frame = tcp_frame(host.to_be_bytes(), port, SERVER, 443, index, 0x02, b"");
        write_frame(&mut out, second, &frame)?;
    }

    let query = dns_query(b"\x0bafter-flood\x07example\x00");
    write_frame(
        &mut out,
        second,
        &udp_frame(client, 53_000, [192, 0, 2, 53], 53, &query),
    )?;
    out.flush()
}

fn write_frame(out: &mut impl Write, second: u32, frame: &[u8]) -> std::io::Result<()> {
    let len = frame.len() as u32;
    for field in [second, 0, len, len] {
        out.write_all(&field.to_le_bytes())?;
    }
    out.write_all(frame)
}

fn ip_header(source: [u8; 4], destination: [u8; 4], protocol: u8, payload_len: usize) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut header = vec![0x45, 0];
    header.extend_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
    header.extend_from_slice(&source);
    header.extend_from_slice(&destination);
    header
}

fn ethernet() -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    frame
}

fn tcp_frame(
    source: [u8; 4],
    source_port: u16,
    destination: [u8; 4],
    destination_port: u16,
    sequence: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = ethernet();
    frame.extend(ip_header(source, destination, 6, 20 + payload.len()));
    frame.extend_from_slice(&source_port.to_be_bytes());
    frame.extend_from_slice(&destination_port.to_be_bytes());
    frame.extend_from_slice(&sequence.to_be_bytes());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

fn udp_frame(
    source: [u8; 4],
    source_port: u16,
    destination: [u8; 4],
    destination_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = ethernet();
    frame.extend(ip_header(source, destination, 17, 8 + payload.len()));
    frame.extend_from_slice(&source_port.to_be_bytes());
    frame.extend_from_slice(&destination_port.to_be_bytes());
    frame.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Builds a standard query with one question of type A, class IN.
fn dns_query(name: &[u8]) -> Vec<u8> {
    let mut message = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(name);
    message.extend_from_slice(&[0, 1, 0, 1]);
    message
}
