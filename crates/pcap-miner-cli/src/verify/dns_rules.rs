//! The rules for `network-dns` differences, checked on the frames the name came from.

use pcap_miner::app::DNS_PORTS;

use super::classify::{all_quoted, describe_frames, Context};
use super::evidence::{CaptureFacts, Unit};
use super::reparse::{self, StreamStart};
use super::rules::{self, Explanation};
use super::tables::frames_phrase;

/// tshark's texts in place of a DNS name it could not read (tshark 4.0, `packet-dns.c`).
pub const DNS_PLACEHOLDERS: [&str; 3] = [
    "<Root>",
    "<Name contains a pointer that loops>",
    "<Unknown extended label>",
];

pub fn explain_tshark_dns_name(context: &Context<'_>, value: &str, frames: &[u64]) -> Explanation {
    if DNS_PLACEHOLDERS.contains(&value) {
        return Explanation::known(
            rules::DNS_PLACEHOLDER,
            format!("{value} is tshark's placeholder text, not a name from the query"),
        );
    }
    let wire = reparse::wire_name(value).unwrap_or_default();
    let quoted = (!wire.is_empty())
        .then(|| all_quoted(context.facts, frames, &[&wire]))
        .flatten();
    if let Some(evidence) = quoted {
        return Explanation::known(rules::DNS_QUOTED, evidence);
    }
    let doh = |frame| doh_frame(context, frame, value);
    if let Some(evidence) = all_frames(frames, doh) {
        return Explanation::known(rules::DNS_DOH, evidence);
    }
    let dns_port = |frame| dns_port_frame(context.facts, frame, value);
    if let Some(evidence) = all_frames(frames, dns_port) {
        return Explanation::known(rules::DNS_PORT, evidence);
    }
    Explanation::unexplained(format!(
        "pcap-miner found no query with this name; {}",
        describe_frames(context.facts, frames)
    ))
}

/// Returns the evidence when `check` holds for every frame: each description
/// once, after the frames it describes.
fn all_frames(frames: &[u64], check: impl Fn(u64) -> Option<String>) -> Option<String> {
    if frames.is_empty() {
        return None;
    }
    let mut groups: Vec<(String, Vec<u64>)> = Vec::new();
    for &frame in frames {
        let description = check(frame)?;
        match groups.iter_mut().find(|(seen, _)| *seen == description) {
            Some((_, members)) => members.push(frame),
            None => groups.push((description, vec![frame])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(description, members)| format!("{}: {description}", frames_phrase(members)))
        .collect();
    Some(parts.join("; "))
}

/// Describes a frame that carries DNS over HTTPS: a frame of an HTTP or
/// HTTP/2 connection on ports other than DNS's whose bytes contain the name
/// in DNS wire form, or of a TLS connection that tshark decrypted with a key
/// log. Returns `None` for other frames.
fn doh_frame(context: &Context<'_>, frame: u64, name: &str) -> Option<String> {
    let facts = context.facts;
    let wire = reparse::wire_name(name)?;
    facts.frame(frame)?.units.iter().find_map(|unit| {
        if !unit.over_tcp || on_dns_port(unit) {
            return None;
        }
        let record = facts.stream_of(unit, frame)?;
        let start = reparse::stream_start(record);
        let visible = reparse::contains(&unit.payload, &wire)
            || reparse::delivered_contains(record, frame, &wire);
        let how = match start {
            StreamStart::Http1 | StreamStart::Http2 if visible => "holds the name in DNS wire form",
            StreamStart::Tls if context.decrypted => "was decrypted by tshark with the key log",
            _ => return None,
        };
        Some(format!(
            "the {} connection to {} ({}) {how}; it is not DNS",
            start.label(),
            record.server,
            unit.destination_label()
        ))
    })
}

/// Describes a frame whose TCP or UDP payload contains the name in DNS wire form on a port pcap-miner does not read.
fn dns_port_frame(facts: &CaptureFacts, frame: u64, name: &str) -> Option<String> {
    let wire = reparse::wire_name(name)?;
    let frame_facts = facts.frame(frame)?;
    frame_facts.units.iter().find_map(|unit| {
        let found = !on_dns_port(unit) && reparse::contains(&unit.payload, &wire);
        found.then(|| {
            format!(
                "the name in DNS wire form between {} and {}, ports pcap-miner does not read as DNS",
                unit.source, unit.destination
            )
        })
    })
}

fn on_dns_port(unit: &Unit) -> bool {
    DNS_PORTS.contains(&unit.source.port()) || DNS_PORTS.contains(&unit.destination.port())
}
