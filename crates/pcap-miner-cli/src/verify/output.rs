//! The verify report, as text for people and as JSON for programs.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::classify::{Difference, KindComparison};
use super::rules::Verdict;
use super::tables::{list_numbers, Conversation, Sightings};

/// The source of tshark's values.
#[derive(Debug, Clone)]
pub enum TsharkSource {
    /// tshark ran on the capture; its `--version` line.
    Run { version: String },
    /// Saved outputs were read from a folder.
    Reference {
        dir: PathBuf,
        version: Option<String>,
    },
}

/// Everything `verify` prints.
#[derive(Debug, Clone)]
pub struct Report {
    pub capture: PathBuf,
    pub tshark: TsharkSource,
    pub kinds: Vec<KindComparison>,
    /// TCP conversations in which tshark saw no SYN, so it names no responder.
    pub without_syn: Vec<Conversation>,
    /// Messages about where either side stopped reading a damaged capture.
    pub damage: Vec<String>,
    pub warnings: Vec<String>,
}

/// Counts of the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub agreed: usize,
    pub known: usize,
    pub gaps: usize,
    pub unexplained: usize,
    /// Differences per class name.
    pub classes: BTreeMap<&'static str, usize>,
}

impl Report {
    /// Counts agreements and differences by verdict and class.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for kind in &self.kinds {
            summary.agreed += kind.both.len();
            for difference in kind.differences() {
                let rule = difference.explanation.rule;
                *summary.classes.entry(rule.name).or_default() += 1;
                match rule.verdict {
                    Verdict::Known => summary.known += 1,
                    Verdict::Gap => summary.gaps += 1,
                    Verdict::Unexplained => summary.unexplained += 1,
                }
            }
        }
        summary
    }
}

/// Writes the report for people.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "capture: {}", report.capture.display());
    let _ = match &report.tshark {
        TsharkSource::Run { version } => writeln!(out, "tshark: {version}"),
        TsharkSource::Reference { dir, version } => writeln!(
            out,
            "tshark: saved outputs in {} ({})",
            dir.display(),
            version.as_deref().unwrap_or("version not recorded")
        ),
    };
    for kind in &report.kinds {
        write_kind(&mut out, kind);
        if kind.kind == pcap_miner::IndicatorKind::Tcp && !report.without_syn.is_empty() {
            write_without_syn(&mut out, &report.without_syn);
        }
    }
    for (title, lines) in [("damage", &report.damage), ("warnings", &report.warnings)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(&report.summary()));
    out
}

fn write_kind(out: &mut String, kind: &KindComparison) {
    let _ = writeln!(
        out,
        "\n{}: {} in both, {} only in tshark, {} only in pcap-miner",
        kind.kind.key(),
        kind.both.len(),
        kind.only_tshark.len(),
        kind.only_ours.len()
    );
    if !kind.both.is_empty() {
        let _ = writeln!(out, "  in both:");
        for agreed in &kind.both {
            let _ = writeln!(
                out,
                "    {}  (tshark frames {}; pcap-miner frames {})",
                agreed.value,
                frames_text(&agreed.tshark),
                list_numbers(&agreed.ours)
            );
        }
    }
    for (title, differences) in [
        ("only in tshark", &kind.only_tshark),
        ("only in pcap-miner", &kind.only_ours),
    ] {
        if differences.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {title}:");
        for difference in differences {
            write_difference(out, difference);
        }
    }
}

fn write_difference(out: &mut String, difference: &Difference) {
    let _ = writeln!(
        out,
        "    {}  (frames {})",
        difference.value,
        frames_text(&difference.sightings)
    );
    let explanation = &difference.explanation;
    let label = match explanation.rule.verdict {
        Verdict::Known => format!("known {}", explanation.rule.name),
        Verdict::Gap => format!("GAP {}", explanation.rule.name),
        Verdict::Unexplained => "UNEXPLAINED".to_string(),
    };
    let _ = writeln!(out, "      {label}: {}", explanation.evidence);
}

fn write_without_syn(out: &mut String, conversations: &[Conversation]) {
    let _ = writeln!(
        out,
        "  conversations without a SYN (tshark names no responder):"
    );
    for conversation in conversations {
        let syn_ack = match conversation.syn_ack {
            Some((frame, sender)) => format!("SYN-ACK from {sender} in frame {frame}"),
            None => "no SYN-ACK".to_string(),
        };
        let _ = writeln!(
            out,
            "    {} <-> {}  (first frame {}, {syn_ack})",
            conversation.first_source, conversation.first_destination, conversation.first_frame
        );
    }
}

fn frames_text(sightings: &Sightings) -> String {
    if sightings.frames.is_empty() {
        return "unknown".to_string();
    }
    let mut text = list_numbers(&sightings.frames);
    let shown = sightings.frames.len() as u64;
    if sightings.count > shown {
        let _ = write!(text, " and {} more", sightings.count - shown);
    }
    text
}

fn summary_line(summary: &Summary) -> String {
    let by_verdict = |verdict: Verdict| -> String {
        summary
            .classes
            .iter()
            .filter(|(name, _)| class_verdict(name) == Some(verdict))
            .map(|(name, count)| format!("{name} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut line = format!(
        "summary: {} values agree; {} known differences",
        summary.agreed, summary.known
    );
    if summary.known > 0 {
        let _ = write!(line, " ({})", by_verdict(Verdict::Known));
    }
    let _ = write!(line, "; {} known gaps", summary.gaps);
    if summary.gaps > 0 {
        let _ = write!(line, " ({})", by_verdict(Verdict::Gap));
    }
    let _ = write!(line, "; {} unexplained", summary.unexplained);
    line
}

fn class_verdict(name: &str) -> Option<Verdict> {
    super::rules::ALL
        .iter()
        .chain([&super::rules::UNEXPLAINED])
        .find(|rule| rule.name == name)
        .map(|rule| rule.verdict)
}

/// Builds the report for programs.
pub fn json(report: &Report) -> Value {
    let mut kinds = serde_json::Map::new();
    for kind in &report.kinds {
        let both: Vec<Value> = kind
            .both
            .iter()
            .map(|agreed| {
                json!({
                    "value": agreed.value,
                    "tshark_frames": agreed.tshark.frames,
                    "tshark_frame_count": agreed.tshark.count,
                    "pcap_miner_frames": agreed.ours,
                })
            })
            .collect();
        kinds.insert(
            kind.kind.key().to_string(),
            json!({
                "both": both,
                "only_tshark": kind.only_tshark.iter().map(difference_json).collect::<Vec<_>>(),
                "only_pcap_miner": kind.only_ours.iter().map(difference_json).collect::<Vec<_>>(),
            }),
        );
    }
    let (source, version, reference) = match &report.tshark {
        TsharkSource::Run { version } => ("run", Some(version.clone()), None),
        TsharkSource::Reference { dir, version } => (
            "reference",
            version.clone(),
            Some(dir.display().to_string()),
        ),
    };
    let summary = report.summary();
    json!({
        "capture": report.capture.display().to_string(),
        "tshark": {"source": source, "version": version, "reference": reference},
        "kinds": kinds,
        "tcp_conversations_without_syn": report.without_syn.iter().map(conversation_json).collect::<Vec<_>>(),
        "damage": report.damage,
        "warnings": report.warnings,
        "summary": {
            "agreed": summary.agreed,
            "known": summary.known,
            "gaps": summary.gaps,
            "unexplained": summary.unexplained,
            "classes": summary.classes,
        },
    })
}

fn difference_json(difference: &Difference) -> Value {
    let explanation = &difference.explanation;
    json!({
        "value": difference.value,
        "frames": difference.sightings.frames,
        "frame_count": difference.sightings.count,
        "class": explanation.rule.name,
        "verdict": explanation.rule.verdict.label(),
        "evidence": explanation.evidence,
    })
}

fn conversation_json(conversation: &Conversation) -> Value {
    json!({
        "ends": [conversation.first_source.to_string(), conversation.first_destination.to_string()],
        "first_frame": conversation.first_frame,
        "syn_ack": conversation.syn_ack.map(|(frame, sender)| json!({"frame": frame, "sender": sender.to_string()})),
    })
}
