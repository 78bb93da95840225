//! The rules for `network-http` differences, each checked on the request
//! found again in the capture.

use std::net::SocketAddr;

use pcap_miner::IndicatorKind;

use super::classify::{all_quoted, describe_frames, Context};
use super::evidence::StreamRecord;
use super::reparse::{self, Host, RequestSeen};
use super::rules::{self, Explanation};
use super::tables::frames_phrase;

/// A request found again, and where.
struct Found<'a> {
    request: RequestSeen,
    /// The TCP connection it was sent in; `None` for a UDP datagram.
    record: Option<&'a StreamRecord>,
    server: SocketAddr,
}

impl Found<'_> {
    fn transport(&self) -> &'static str {
        if self.record.is_some() {
            "tcp"
        } else {
            "udp"
        }
    }

    fn describe(&self) -> String {
        let version = if self.request.has_version {
            ""
        } else {
            " (no HTTP version)"
        };
        format!(
            "the request `{} {}`{version} in {} to {}",
            self.request.method,
            self.request.target,
            frames_phrase(&self.request.packets),
            self.server
        )
    }
}

/// Explains a URI that only pcap-miner reported.
pub fn explain_our_uri(context: &Context<'_>, value: &str, frames: &[u64]) -> Explanation {
    let Some(found) = find_request(context, frames, |request| request.uri == value) else {
        return request_not_found(context, value, frames);
    };
    let request = &found.request;

    if let Some(explanation) = connect_target_rule(context, request) {
        return explanation;
    }
    match &request.host {
        Host::Missing => Explanation::known(
            rules::HTTP_NO_HOST,
            format!(
                "{} has no Host header; tshark gives no URI without one",
                found.describe()
            ),
        ),
        Host::Empty => Explanation::known(
            rules::HTTP_EMPTY_HOST,
            format!(
                "{} has an empty Host header; pcap-miner uses the server address",
                found.describe()
            ),
        ),
        Host::Present(_) => explain_missed_request(context, &found),
    }
}

/// Explains a URI whose request is not in the recorded plaintext: inside
/// TLS that both sides decrypted, or not found at all.
fn request_not_found(context: &Context<'_>, value: &str, frames: &[u64]) -> Explanation {
    if let Some(explanation) = tshark_saw_no_host(context, value, frames) {
        return explanation;
    }
    let cut = if context.facts.all_streams().any(|record| record.truncated) {
        "; some client streams were longer than the recording limit and were read only in part"
    } else {
        ""
    };
    Explanation::unexplained(format!(
        "no request with this URI was found again; {}{cut}",
        describe_frames(context.facts, frames)
    ))
}

/// Explains our URI by tshark's own parse of a request in `frames`: a method
/// and a target that ends our URI, but no Host header and so no URI.
fn tshark_saw_no_host(context: &Context<'_>, value: &str, frames: &[u64]) -> Option<Explanation> {
    let request = context.tshark().requests.iter().find(|request| {
        frames.contains(&request.frame)
            && request.uri.is_empty()
            && request.host.is_empty()
            && !request.method.is_empty()
            && !request.target.is_empty()
            && value.ends_with(&request.target)
    })?;
    Some(Explanation::known(
        rules::HTTP_NO_HOST,
        format!(
            "tshark decoded the request `{} {}` in frame {} and found no Host header, so it gives no URI",
            request.method, request.target, request.frame
        ),
    ))
}

/// Explains a CONNECT whose target starts with `/`, for which tshark reports the bare target.
fn connect_target_rule(context: &Context<'_>, request: &RequestSeen) -> Option<Explanation> {
    let is_connect = request.method.eq_ignore_ascii_case("CONNECT");
    if !is_connect || !request.target.starts_with('/') {
        return None;
    }
    context
        .tshark()
        .sightings(IndicatorKind::Http, &request.target)?;
    Some(Explanation::known(
        rules::HTTP_TARGET_FORM,
        format!(
            "CONNECT with the origin-form target {} in {}: tshark reports the bare target, \
             pcap-miner {}",
            request.target,
            frames_phrase(&request.packets),
            request.uri
        ),
    ))
}

/// Explains a request with a Host that tshark did not report: by out-of-order segments, or by a port tshark does not decode as HTTP.
fn explain_missed_request(context: &Context<'_>, found: &Found<'_>) -> Explanation {
    let request = &found.request;
    if let Some(record) = found.record {
        let segments = context.facts.client_segments(record);
        if let Some((early, late)) = reparse::out_of_order(&segments, &request.range) {
            return Explanation::known(
                rules::HTTP_OUT_OF_ORDER,
                format!(
                    "{}: frame {late} carries bytes that come before those of frame {early}, \
                     which arrived first",
                    found.describe()
                ),
            )
            .confirmed_by(vec!["-o".into(), "tcp.reassemble_out_of_order:TRUE".into()]);
        }
    }

    let tshark_frames: Vec<u64> = request
        .packets
        .iter()
        .copied()
        .filter(|packet| context.tshark().http_frames.contains(packet))
        .collect();
    if !tshark_frames.is_empty() {
        return Explanation::unexplained(format!(
            "{} has a Host header, and tshark reported other URIs in {}: {}",
            found.describe(),
            frames_phrase(&tshark_frames),
            tshark_uris_in(context, &tshark_frames).join(", ")
        ));
    }
    let (transport, port) = (found.transport(), found.server.port());
    if context
        .tshark()
        .http_ports
        .contains(&(found.record.is_some(), port))
    {
        return Explanation::unexplained(format!(
            "{} has a Host header and arrived in order, and tshark decodes HTTP on {transport}/{port} \
             elsewhere in the capture",
            found.describe()
        ));
    }
    Explanation::known(
        rules::HTTP_OTHER_PORT,
        format!(
            "{} has a Host header and arrived in order, and tshark decoded no HTTP in those frames \
             on {transport}/{port}",
            found.describe()
        ),
    )
    .confirmed_by(vec!["-d".into(), format!("{transport}.port=={port},http")])
}

/// Returns tshark's URIs seen in any of `frames`.
fn tshark_uris_in(context: &Context<'_>, frames: &[u64]) -> Vec<String> {
    context
        .tshark()
        .values
        .get(&IndicatorKind::Http)
        .into_iter()
        .flatten()
        .filter(|(_, sightings)| sightings.frames.iter().any(|frame| frames.contains(frame)))
        .map(|(uri, _)| uri.clone())
        .collect()
}

/// Explains a URI that only tshark reported.
pub fn explain_tshark_uri(context: &Context<'_>, value: &str, frames: &[u64]) -> Explanation {
    if value.starts_with("https://") {
        return keylog_gap(context, frames);
    }
    let (authority, target) = split_uri(value);
    if let Some(evidence) = all_quoted(
        context.facts,
        frames,
        &[authority.as_bytes(), target.as_bytes()],
    ) {
        return Explanation::known(rules::HTTP_QUOTED, evidence);
    }
    let at_frames = |request: &RequestSeen| request.packets.iter().any(|p| frames.contains(p));
    let reported = |uri: &str| {
        context
            .ours()
            .get(IndicatorKind::Http)
            .any(|ours| ours == uri)
    };

    let connect = |request: &RequestSeen| {
        request.method.eq_ignore_ascii_case("CONNECT") && request.target == value
    };
    if let Some(found) = find_request(context, frames, |r| at_frames(r) && connect(r)) {
        if reported(&found.request.uri) {
            return Explanation::known(
                rules::HTTP_TARGET_FORM,
                format!(
                    "{} is a CONNECT with an origin-form target: tshark reports the bare target, \
                     pcap-miner {}",
                    found.describe(),
                    found.request.uri
                ),
            );
        }
    }

    let empty_host = |request: &RequestSeen| {
        request.host == Host::Empty && value == format!("http://{}", request.target)
    };
    if let Some(found) = find_request(context, frames, |r| at_frames(r) && empty_host(r)) {
        if reported(&found.request.uri) {
            return Explanation::known(
                rules::HTTP_EMPTY_HOST,
                format!(
                    "{} has an empty Host header: tshark writes {value}, pcap-miner {}",
                    found.describe(),
                    found.request.uri
                ),
            );
        }
    }

    if let Some(evidence) = versionless_line(context, value, frames) {
        return Explanation::known(rules::HTTP_VERSIONLESS_NO_HEADERS, evidence);
    }
    Explanation::unexplained(format!(
        "pcap-miner found no request that explains this URI; {}",
        describe_frames(context.facts, frames)
    ))
}

/// Splits `scheme://authority/target` into authority and target; other forms are all target.
fn split_uri(uri: &str) -> (&str, &str) {
    let Some((_, rest)) = uri.split_once("://") else {
        return ("", uri);
    };
    match rest.find(['/', '*']) {
        Some(position) => rest.split_at(position),
        None => (rest, ""),
    }
}

/// Classifies an `https://` URI, which tshark read after decrypting TLS with the key log.
fn keylog_gap(context: &Context<'_>, frames: &[u64]) -> Explanation {
    if !context.decrypted {
        return Explanation::unexplained(
            "an https:// URI, yet tshark was given no key log to decrypt TLS with",
        );
    }
    let tcp_frames: Vec<u64> = frames
        .iter()
        .copied()
        .filter(|frame| {
            context
                .facts
                .frame(*frame)
                .is_some_and(|facts| facts.units.iter().any(|unit| unit.over_tcp))
        })
        .collect();
    if tcp_frames.is_empty() {
        return Explanation::unexplained(format!(
            "an https:// URI outside TCP; {}",
            describe_frames(context.facts, frames)
        ));
    }
    Explanation::known(
        rules::NEEDS_KEYLOG_DECRYPTION,
        format!(
            "tshark read this request from the TLS records in {} after decrypting them with the key log, \
             and pcap-miner did not decrypt them",
            frames_phrase(&tcp_frames)
        ),
    )
}

/// A request line without version and without headers at one of `frames`.
fn versionless_line(context: &Context<'_>, value: &str, frames: &[u64]) -> Option<String> {
    for &frame in frames {
        let Some(frame_facts) = context.facts.frame(frame) else {
            continue;
        };
        for unit in frame_facts.units.iter().filter(|u| u.over_tcp) {
            let Some(record) = context.facts.stream_of(unit, frame) else {
                continue;
            };
            let line = reparse::bare_lines_in_stream(record)
                .into_iter()
                .find(|line| {
                    !line.headers_follow
                        && value.ends_with(&line.target)
                        && line.packets.contains(&frame)
                });
            if let Some(line) = line {
                return Some(format!(
                    "the request line `{} {}` in frame {frame} has no version and no header lines",
                    line.method, line.target
                ));
            }
        }
    }
    None
}

/// Finds a request that `matches`, in the streams and datagrams of `frames`,
/// and else in any recorded stream.
fn find_request<'a>(
    context: &'a Context<'_>,
    frames: &[u64],
    matches: impl Fn(&RequestSeen) -> bool,
) -> Option<Found<'a>> {
    let facts = context.facts;
    for &frame in frames {
        let Some(frame_facts) = facts.frame(frame) else {
            continue;
        };
        for unit in &frame_facts.units {
            if !unit.over_tcp {
                let request = reparse::request_in_datagram(&unit.payload, unit.destination)
                    .filter(|request| matches(request));
                if let Some(request) = request {
                    let request = RequestSeen {
                        packets: vec![frame],
                        ..request
                    };
                    return Some(Found {
                        request,
                        record: None,
                        server: unit.destination,
                    });
                }
                continue;
            }
            if let Some(found) = facts
                .stream_of(unit, frame)
                .and_then(|record| request_in(record, &matches))
            {
                return Some(found);
            }
        }
    }
    // A request cut short at the end of the capture is credited to the last packet.
    facts
        .all_streams()
        .find_map(|record| request_in(record, &matches))
}

fn request_in<'a>(
    record: &'a StreamRecord,
    matches: &impl Fn(&RequestSeen) -> bool,
) -> Option<Found<'a>> {
    let request = reparse::requests_in_stream(record)
        .into_iter()
        .find(|request| matches(request))?;
    Some(Found {
        request,
        record: Some(record),
        server: record.server,
    })
}
