//! The rules for `network-tcp` differences, checked on tshark's conversations.

use std::net::SocketAddr;

use pcap_miner::IndicatorKind;

use super::classify::Context;
use super::rules::{self, Explanation};
use super::tables::Conversation;

pub fn explain_tshark_endpoint(context: &Context<'_>, value: &str) -> Explanation {
    let Ok(responder) = value.parse::<SocketAddr>() else {
        return Explanation::unexplained("tshark's endpoint cannot be read as an address");
    };
    let conversations: Vec<&Conversation> = context
        .tshark()
        .conversations
        .iter()
        .filter(|conversation| conversation.syn.is_some_and(|(_, end)| end == responder))
        .collect();
    for conversation in &conversations {
        if let Some(explanation) = vm_range_rule(context, conversation, responder) {
            return explanation;
        }
    }
    Explanation::unexplained(format!(
        "tshark's SYN names {value} the responder in {} conversation(s); pcap-miner reported neither it \
         nor a reason to choose the other end",
        conversations.len()
    ))
}

pub fn explain_our_endpoint(context: &Context<'_>, value: &str, frames: &[u64]) -> Explanation {
    let Ok(ours) = value.parse::<SocketAddr>() else {
        return Explanation::unexplained("pcap-miner's endpoint cannot be read as an address");
    };
    let mut conversations: Vec<&Conversation> = context
        .tshark()
        .conversations
        .iter()
        .filter(|conversation| conversation.has_endpoint(ours))
        .collect();
    if conversations.is_empty() {
        return Explanation::unexplained(format!(
            "tshark has no TCP conversation with the end {value}"
        ));
    }
    // The conversation that starts where ours started is the same connection.
    conversations.sort_by_key(|conversation| !frames.contains(&conversation.first_frame));

    let mut reasons = Vec::new();
    for conversation in conversations {
        let explanation = match conversation.syn {
            None => direction_rule(conversation, ours),
            Some((_, responder)) => vm_range_rule(context, conversation, responder),
        };
        match explanation {
            Some(explanation) => return explanation,
            None => reasons.push(describe_conversation(conversation)),
        }
    }
    Explanation::unexplained(format!(
        "no rule picks {value} in tshark's conversations: {}",
        reasons.join("; ")
    ))
}

/// Explains our endpoint in a conversation without a SYN by the direction rule.
fn direction_rule(conversation: &Conversation, ours: SocketAddr) -> Option<Explanation> {
    let other = conversation.other_end(ours);
    let pair = format!(
        "tshark saw no SYN in the conversation {} <-> {} (first frame {}), so it names no responder",
        conversation.first_source, conversation.first_destination, conversation.first_frame
    );
    match conversation.syn_ack {
        Some((frame, sender)) if sender == ours => Some(Explanation::known(
            rules::TCP_DIRECTION_SYNACK,
            format!("{pair}; pcap-miner takes {ours}, which sent the first SYN-ACK in frame {frame}"),
        )),
        Some(_) => None,
        None if ours.port() < other.port() => Some(Explanation::known(
            rules::TCP_DIRECTION_PORT,
            format!("{pair}; with no SYN-ACK either, pcap-miner takes {ours}, the side with the lower port"),
        )),
        None if ours.port() == other.port() && ours == conversation.first_destination => {
            Some(Explanation::known(
                rules::TCP_DIRECTION_EQUAL_PORTS,
                format!(
                    "{pair}; with no SYN-ACK and equal ports, pcap-miner takes {ours}, \
                     the destination of the first packet"
                ),
            ))
        }
        None => None,
    }
}

/// Explains a difference by `--vm-ip-range`: we report the end outside the VM network.
fn vm_range_rule(
    context: &Context<'_>,
    conversation: &Conversation,
    responder: SocketAddr,
) -> Option<Explanation> {
    let networks = &context.config.vm_networks;
    if networks.is_empty() {
        return None;
    }
    let initiator = conversation.other_end(responder);
    let contacted = pcap_miner::indicators::contacted_endpoint(initiator, responder, networks);
    let reported = context
        .ours()
        .get(IndicatorKind::Tcp)
        .any(|v| v == contacted.to_string());
    (contacted != responder && reported).then(|| {
        Explanation::known(
            rules::TCP_VM_RANGE,
            format!(
                "in {initiator} <-> {responder} only the responder {responder} is inside --vm-ip-range, \
                 so pcap-miner reports {contacted}"
            ),
        )
    })
}

fn describe_conversation(conversation: &Conversation) -> String {
    let syn = match conversation.syn {
        Some((frame, responder)) => format!("SYN in frame {frame} to {responder}"),
        None => "no SYN".to_string(),
    };
    let syn_ack = match conversation.syn_ack {
        Some((frame, sender)) => format!("SYN-ACK in frame {frame} from {sender}"),
        None => "no SYN-ACK".to_string(),
    };
    format!(
        "{} <-> {}: {syn}, {syn_ack}",
        conversation.first_source, conversation.first_destination
    )
}
