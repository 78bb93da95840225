//! Comparing tshark's values with ours, kind by kind, and explaining every
//! value found by only one side with a rule checked against the capture.

use std::collections::BTreeSet;

use pcap_miner::{Config, IndicatorKind, IndicatorSets};

use super::escaping;
use super::evidence::{CaptureFacts, FrameFacts};
use super::rules::{self, Explanation};
use super::tables::{frames_phrase, Sightings, TsharkView};
use super::{dns_rules, http_rules, reparse, sni_rules, tcp_rules};

/// UDP port of sFlow, whose samples quote packet headers.
const SFLOW_PORT: u16 = 6343;

/// A value both sides found.
#[derive(Debug, Clone)]
pub struct Agreed {
    pub value: String,
    pub tshark: Sightings,
    pub ours: Vec<u64>,
}

/// A value only one side found, with its explanation.
#[derive(Debug, Clone)]
pub struct Difference {
    pub value: String,
    pub sightings: Sightings,
    pub explanation: Explanation,
}

/// The comparison of one kind.
#[derive(Debug, Clone)]
pub struct KindComparison {
    pub kind: IndicatorKind,
    pub both: Vec<Agreed>,
    pub only_tshark: Vec<Difference>,
    pub only_ours: Vec<Difference>,
}

impl KindComparison {
    /// Returns every difference of this kind.
    pub fn differences(&self) -> impl Iterator<Item = &Difference> {
        self.only_tshark.iter().chain(&self.only_ours)
    }
}

/// The values of both sides, before the differences are explained.
pub struct Sides<'a> {
    pub ours: &'a IndicatorSets,
    pub tshark: &'a TsharkView,
}

impl Sides<'_> {
    /// Returns the values of `kind` found by tshark only and by us only.
    pub fn split(&self, kind: IndicatorKind) -> (Vec<String>, Vec<String>) {
        let ours: BTreeSet<&str> = self.ours.get(kind).collect();
        let theirs: BTreeSet<&str> = self
            .tshark
            .values
            .get(&kind)
            .map(|values| values.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let only_tshark = theirs.difference(&ours).map(|v| v.to_string()).collect();
        let only_ours = ours.difference(&theirs).map(|v| v.to_string()).collect();
        (only_tshark, only_ours)
    }

    /// Returns the frames of every difference except TCP ones, whose evidence is in tshark's conversations.
    pub fn frames_to_examine(&self) -> BTreeSet<u64> {
        let mut frames = BTreeSet::new();
        for kind in [IndicatorKind::Http, IndicatorKind::Sni, IndicatorKind::Dns] {
            let (only_tshark, only_ours) = self.split(kind);
            for value in &only_tshark {
                if let Some(sightings) = self.tshark.sightings(kind, value) {
                    frames.extend(&sightings.frames);
                }
            }
            for value in &only_ours {
                frames.extend(self.ours.frames(kind, value));
            }
        }
        frames
    }
}

/// Everything a rule may look at.
pub struct Context<'a> {
    pub sides: Sides<'a>,
    pub facts: &'a CaptureFacts,
    pub config: &'a Config,
    /// Both sides had a key log to decrypt TLS with.
    pub decrypted: bool,
}

impl Context<'_> {
    pub fn ours(&self) -> &IndicatorSets {
        self.sides.ours
    }

    pub fn tshark(&self) -> &TsharkView {
        self.sides.tshark
    }

    /// Returns the frames of one of our values in ascending order.
    pub fn our_frames(&self, kind: IndicatorKind, value: &str) -> Vec<u64> {
        let mut frames = self.ours().frames(kind, value).to_vec();
        frames.sort_unstable();
        frames
    }

    fn our_sightings(&self, kind: IndicatorKind, value: &str) -> Sightings {
        let frames = self.our_frames(kind, value);
        Sightings {
            count: frames.len() as u64,
            frames,
        }
    }
}

/// Compares every kind and explains each difference.
pub fn compare(context: &Context<'_>) -> Vec<KindComparison> {
    IndicatorKind::ALL
        .into_iter()
        .map(|kind| compare_kind(context, kind))
        .collect()
}

fn compare_kind(context: &Context<'_>, kind: IndicatorKind) -> KindComparison {
    let (only_tshark, only_ours) = context.sides.split(kind);
    let both = context
        .ours()
        .get(kind)
        .filter_map(|value| {
            let tshark = context.tshark().sightings(kind, value)?;
            Some(Agreed {
                value: value.to_string(),
                tshark: tshark.clone(),
                ours: context.our_frames(kind, value),
            })
        })
        .collect();

    let only_tshark: Vec<Difference> = only_tshark
        .into_iter()
        .map(|value| {
            let sightings = context
                .tshark()
                .sightings(kind, &value)
                .cloned()
                .unwrap_or_default();
            let explanation = Explanation::unexplained(String::new());
            Difference {
                value,
                sightings,
                explanation,
            }
        })
        .collect();
    let only_ours: Vec<Difference> = only_ours
        .into_iter()
        .map(|value| {
            let sightings = context.our_sightings(kind, &value);
            let explanation = Explanation::unexplained(String::new());
            Difference {
                value,
                sightings,
                explanation,
            }
        })
        .collect();
    let (only_tshark, only_ours) = explain_all(context, kind, only_tshark, only_ours);
    KindComparison {
        kind,
        both,
        only_tshark,
        only_ours,
    }
}

/// Explains every difference: first the pairs that differ only in escaping, then each value alone.
fn explain_all(
    context: &Context<'_>,
    kind: IndicatorKind,
    mut only_tshark: Vec<Difference>,
    mut only_ours: Vec<Difference>,
) -> (Vec<Difference>, Vec<Difference>) {
    let pairs = escaping_pairs(kind, &only_tshark, &only_ours);
    if let Some(rule) = escaping::rule(kind) {
        for &(theirs, ours) in &pairs {
            let (theirs, ours) = (&mut only_tshark[theirs], &mut only_ours[ours]);
            let explanation = Explanation::known(
                rule,
                format!(
                    "in {} tshark writes {} and pcap-miner {}: the same bytes, escaped differently",
                    frames_phrase(&common_frames(&ours.sightings, &theirs.sightings)),
                    theirs.value,
                    ours.value
                ),
            );
            theirs.explanation = explanation.clone();
            ours.explanation = explanation;
        }
    }

    for (index, difference) in only_tshark.iter_mut().enumerate() {
        if !pairs.iter().any(|&(theirs, _)| theirs == index) {
            let frames = difference.sightings.frames.clone();
            difference.explanation =
                explain_tshark_value(context, kind, &difference.value, &frames);
        }
    }
    for (index, difference) in only_ours.iter_mut().enumerate() {
        if !pairs.iter().any(|&(_, ours)| ours == index) {
            let frames = difference.sightings.frames.clone();
            difference.explanation = explain_our_value(context, kind, &difference.value, &frames);
        }
    }
    (only_tshark, only_ours)
}

/// Pairs tshark's and our values seen in a common frame that differ only in escaping.
fn escaping_pairs(
    kind: IndicatorKind,
    only_tshark: &[Difference],
    only_ours: &[Difference],
) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (ours_index, ours) in only_ours.iter().enumerate() {
        let partner = only_tshark.iter().enumerate().position(|(index, theirs)| {
            !pairs.iter().any(|&(taken, _)| taken == index)
                && shares_frame(&ours.sightings, &theirs.sightings)
                && escaping::same_bytes(kind, &ours.value, &theirs.value)
        });
        if let Some(theirs_index) = partner {
            pairs.push((theirs_index, ours_index));
        }
    }
    pairs
}

fn shares_frame(a: &Sightings, b: &Sightings) -> bool {
    a.frames.iter().any(|frame| b.frames.contains(frame))
}

fn common_frames(a: &Sightings, b: &Sightings) -> Vec<u64> {
    a.frames
        .iter()
        .copied()
        .filter(|frame| b.frames.contains(frame))
        .collect()
}

fn explain_tshark_value(
    context: &Context<'_>,
    kind: IndicatorKind,
    value: &str,
    frames: &[u64],
) -> Explanation {
    match kind {
        IndicatorKind::Http => http_rules::explain_tshark_uri(context, value, frames),
        IndicatorKind::Tcp => tcp_rules::explain_tshark_endpoint(context, value),
        IndicatorKind::Sni => sni_rules::explain_tshark_server_name(context, value, frames),
        IndicatorKind::Dns => dns_rules::explain_tshark_dns_name(context, value, frames),
    }
}

fn explain_our_value(
    context: &Context<'_>,
    kind: IndicatorKind,
    value: &str,
    frames: &[u64],
) -> Explanation {
    if let Some(explanation) = stopped_early_rule(context.tshark(), frames) {
        return explanation;
    }
    match kind {
        IndicatorKind::Http => http_rules::explain_our_uri(context, value, frames),
        IndicatorKind::Tcp => tcp_rules::explain_our_endpoint(context, value, frames),
        IndicatorKind::Sni => sni_rules::explain_our_server_name(context, value, frames),
        IndicatorKind::Dns => Explanation::unexplained(format!(
            "tshark reported no query with this name; {}",
            describe_frames(context.facts, frames)
        )),
    }
}

/// Our value comes only from frames after the last one tshark read before it stopped at damage.
fn stopped_early_rule(tshark: &TsharkView, frames: &[u64]) -> Option<Explanation> {
    let last = tshark.last_frame.filter(|_| tshark.stopped_early)?;
    let after = !frames.is_empty() && frames.iter().all(|&frame| frame > last);
    after.then(|| {
        Explanation::known(
            rules::TSHARK_STOPPED_EARLY,
            format!(
                "tshark stopped at damage after frame {last}; pcap-miner found this in {}",
                frames_phrase(frames)
            ),
        )
    })
}

// ---------------------------------------------------------------------------
// Frames quoted by ICMP or sFlow

/// Returns why a frame contains only a copy of a packet, if it does.
pub fn quoted_copy(frame: &FrameFacts) -> Option<&'static str> {
    if frame.units.is_empty() && frame.other_ip_protocol {
        return Some(
            "an ICMP message (an IP protocol other than TCP or UDP) quoting an earlier packet",
        );
    }
    let all_sflow = !frame.units.is_empty()
        && frame
            .units
            .iter()
            .all(|unit| !unit.over_tcp && unit.destination.port() == SFLOW_PORT);
    all_sflow.then_some("an sFlow datagram (udp/6343) quoting sampled packet headers")
}

/// Checks that every frame contains a quoted copy with each part of `needle` in its bytes, and returns the evidence.
pub fn all_quoted(facts: &CaptureFacts, frames: &[u64], needle: &[&[u8]]) -> Option<String> {
    let mut reason = None;
    for frame in frames {
        let frame = facts.frame(*frame)?;
        let holds_value = needle
            .iter()
            .all(|part| part.is_empty() || reparse::contains(&frame.raw, part));
        if !holds_value {
            return None;
        }
        reason = Some(quoted_copy(frame)?);
    }
    Some(format!(
        "{}: {}; pcap-miner does not mine quoted copies",
        frames_phrase(frames),
        reason?
    ))
}

/// Describes what the frames carry, for unexplained differences.
pub fn describe_frames(facts: &CaptureFacts, frames: &[u64]) -> String {
    let mut parts = Vec::new();
    for &number in frames.iter().take(3) {
        let text = match facts.frame(number) {
            None => "not read".to_string(),
            Some(frame) if frame.units.is_empty() => "no TCP or UDP".to_string(),
            Some(frame) => frame
                .units
                .iter()
                .map(|unit| {
                    format!(
                        "{} -> {} ({})",
                        unit.source,
                        unit.destination,
                        unit.destination_label()
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        parts.push(format!("frame {number}: {text}"));
    }
    if parts.is_empty() {
        return "no frame is known".to_string();
    }
    parts.join("; ")
}
