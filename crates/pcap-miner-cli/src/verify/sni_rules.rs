//! The rules for `network-sni` differences, checked on the ClientHello
//! found again in the capture and on the packets tshark read.

use super::classify::{all_quoted, describe_frames, Context};
use super::evidence::{CaptureFacts, Unit};
use super::reparse;
use super::rules::{self, Explanation};
use super::tables::frames_phrase;

pub fn explain_tshark_server_name(
    context: &Context<'_>,
    value: &str,
    frames: &[u64],
) -> Explanation {
    let name = value.rsplit_once(':').map_or(value, |(name, _)| name);
    if let Some(evidence) = all_quoted(context.facts, frames, &[name.as_bytes()]) {
        return Explanation::known(rules::SNI_QUOTED, evidence);
    }
    if context.tshark().sni_over_udp.contains(value) {
        return quic_gap(context.facts, frames);
    }
    Explanation::unexplained(format!(
        "pcap-miner found no ClientHello with this name; {}",
        describe_frames(context.facts, frames)
    ))
}

/// Classifies a server name tshark read from QUIC: a gap when the frames carry QUIC long-header packets.
fn quic_gap(facts: &CaptureFacts, frames: &[u64]) -> Explanation {
    let quic_frames: Vec<u64> = frames
        .iter()
        .copied()
        .filter(|frame| {
            facts.frame(*frame).is_some_and(|facts| {
                facts.units.iter().any(|unit| {
                    // A QUIC long header starts with the two high bits set (RFC 9000, section 17.2).
                    !unit.over_tcp && unit.payload.first().is_some_and(|b| b & 0xc0 == 0xc0)
                })
            })
        })
        .collect();
    if quic_frames.is_empty() {
        return Explanation::unexplained(format!(
            "tshark read this name over UDP, but the frames hold no QUIC long-header packet; {}",
            describe_frames(facts, frames)
        ));
    }
    Explanation::known(
        rules::NEEDS_QUIC_DECRYPTION,
        format!(
            "tshark read the name from QUIC long-header packets over UDP in {} after decrypting \
             them, and pcap-miner did not",
            frames_phrase(&quic_frames)
        ),
    )
}

pub fn explain_our_server_name(context: &Context<'_>, value: &str, frames: &[u64]) -> Explanation {
    for &frame in frames {
        let Some(facts) = context.facts.frame(frame) else {
            continue;
        };
        for unit in facts.units.iter().filter(|unit| unit.over_tcp) {
            if let Some(explanation) = client_hello_rule(context, unit, frame, value) {
                return explanation;
            }
        }
    }
    Explanation::unexplained(format!(
        "no ClientHello with this name was found again; {}",
        describe_frames(context.facts, frames)
    ))
}

/// Finds our ClientHello in the stream of `unit` and checks that tshark dissected none there.
fn client_hello_rule(
    context: &Context<'_>,
    unit: &Unit,
    frame: u64,
    value: &str,
) -> Option<Explanation> {
    let record = context.facts.stream_of(unit, frame)?;
    let port = record.server.port();
    let hello = reparse::client_hellos_in_stream(record)
        .into_iter()
        .find(|hello| {
            hello
                .names
                .iter()
                .any(|name| format!("{name}:{port}") == value)
        })?;
    let dissected: Vec<u64> = hello
        .packets
        .iter()
        .copied()
        .filter(|packet| context.tshark().client_hello_frames.contains(packet))
        .collect();
    if !dissected.is_empty() {
        return Some(Explanation::unexplained(format!(
            "tshark dissected a ClientHello in {} but reported other names",
            frames_phrase(&dissected)
        )));
    }
    let place = if hello.offset == 0 {
        format!(
            "at the start of the client stream to tcp/{port}, a port tshark did not dissect as TLS"
        )
    } else {
        format!(
            "after {} bytes of plaintext in the client stream to tcp/{port} (an upgrade such as STARTTLS)",
            hello.offset
        )
    };
    Some(Explanation::known(
        rules::SNI_CONTENT,
        format!(
            "the ClientHello in {} begins {place}; tshark dissected no ClientHello there",
            frames_phrase(&hello.packets)
        ),
    ))
}
