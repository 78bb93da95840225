//! Reading recorded client streams and datagrams again, with the library's
//! parsers, to find the request or ClientHello behind a value and the details
//! that decide why tshark saw it differently.

use std::net::SocketAddr;
use std::ops::Range;

use pcap_miner::app::http::{self, BodyFraming, ChunkState, HeadStatus, RequestHead};
use pcap_miner::app::tls::{self, ClientHelloJoiner, JoinProgress};

use super::evidence::{SegmentSeen, StreamRecord};

/// The Host header of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Missing,
    Empty,
    Present(String),
}

/// One HTTP request head found again.
#[derive(Debug, Clone)]
pub struct RequestSeen {
    /// The URI as `pcap-miner mine` builds it.
    pub uri: String,
    pub method: String,
    pub target: String,
    pub host: Host,
    /// The request line ends in an `HTTP/` version.
    pub has_version: bool,
    /// Stream offsets of the head.
    pub range: Range<u64>,
    /// Packets that delivered the head's bytes.
    pub packets: Vec<u64>,
}

/// A request line without a version, as tshark may still read it.
#[derive(Debug, Clone)]
pub struct BareLine {
    pub method: String,
    pub target: String,
    /// A non-empty line follows the request line.
    pub headers_follow: bool,
    pub packets: Vec<u64>,
}

/// One ClientHello found again.
#[derive(Debug, Clone)]
pub struct ClientHelloSeen {
    /// Stream offset of its first record: 0 at the start of the stream.
    pub offset: u64,
    /// Server names, escaped as `pcap-miner mine` writes them.
    pub names: Vec<String>,
    pub packets: Vec<u64>,
}

/// The protocol a client stream begins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    Http2,
    Http1,
    Tls,
    Other,
}

impl StreamStart {
    /// Returns a label for messages.
    pub fn label(self) -> &'static str {
        match self {
            StreamStart::Http2 => "HTTP/2",
            StreamStart::Http1 => "HTTP/1.x",
            StreamStart::Tls => "TLS",
            StreamStart::Other => "another protocol",
        }
    }
}

/// Contiguous recorded bytes of a stream, with the packets that delivered them.
struct Run {
    start: u64,
    bytes: Vec<u8>,
    /// Offset in `bytes` where each delivery began, with its packet.
    deliveries: Vec<(usize, u64)>,
}

impl Run {
    /// Returns the packets whose bytes overlap `range` (offsets in `bytes`).
    fn packets(&self, range: Range<usize>) -> Vec<u64> {
        let mut packets = Vec::new();
        for (index, &(begin, packet)) in self.deliveries.iter().enumerate() {
            let end = self
                .deliveries
                .get(index + 1)
                .map_or(self.bytes.len(), |next| next.0);
            if begin < range.end.max(range.start + 1)
                && end > range.start
                && !packets.contains(&packet)
            {
                packets.push(packet);
            }
        }
        packets
    }

    fn offset(&self, position: usize) -> u64 {
        self.start + position as u64
    }
}

/// Joins consecutive chunks into runs; a gap in the stream starts a new run.
fn runs(record: &StreamRecord) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for chunk in &record.chunks {
        let continues = runs
            .last()
            .is_some_and(|run| run.offset(run.bytes.len()) == chunk.offset);
        if !continues {
            runs.push(Run {
                start: chunk.offset,
                bytes: Vec::new(),
                deliveries: Vec::new(),
            });
        }
        if let Some(run) = runs.last_mut() {
            run.deliveries.push((run.bytes.len(), chunk.packet));
            run.bytes.extend_from_slice(&chunk.data);
        }
    }
    runs
}

/// Finds every request head in a client stream: at each segment start and
/// after each request and its body.
pub fn requests_in_stream(record: &StreamRecord) -> Vec<RequestSeen> {
    let mut requests = Vec::new();
    for run in runs(record) {
        let mut starts: Vec<usize> = run.deliveries.iter().map(|&(begin, _)| begin).collect();
        let mut skip_until = 0;
        let mut index = 0;
        while index < starts.len() {
            let start = starts[index];
            index += 1;
            if start < skip_until {
                continue;
            }
            let Some((request, next)) = request_at(&run, start, record.server) else {
                continue;
            };
            requests.push(request);
            skip_until = next;
            if next < run.bytes.len() {
                // `next` lies after the current start, so the loop reaches it.
                let position = starts.partition_point(|&s| s < next);
                if starts.get(position) != Some(&next) {
                    starts.insert(position, next);
                }
            }
        }
    }
    requests
}

/// Reads a request head at `start` of a run; returns it and where the next message may begin.
fn request_at(run: &Run, start: usize, server: SocketAddr) -> Option<(RequestSeen, usize)> {
    let data = &run.bytes[start..];
    let skipped = data
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let begin = start + skipped;
    let HeadStatus::Complete { head, len } = http::parse_request_head(&run.bytes[begin..], true)
    else {
        return None;
    };
    let end = begin + len;
    let after_body = end + body_len(head.body, &run.bytes[end..]);
    let request = seen_request(&head, &run.bytes[begin..end], server);
    let request = RequestSeen {
        range: run.offset(begin)..run.offset(end),
        packets: run.packets(begin..end),
        ..request
    };
    Some((request, after_body.min(run.bytes.len())))
}

/// Returns how many of `rest` belong to the body after a head.
fn body_len(body: BodyFraming, rest: &[u8]) -> usize {
    match body {
        BodyFraming::None => 0,
        BodyFraming::ContentLength(len) => usize::try_from(len).unwrap_or(usize::MAX),
        BodyFraming::Chunked => {
            let mut state = ChunkState::start();
            state.advance(rest)
        }
    }
}

/// Reads the request in one UDP datagram sent to `destination`.
pub fn request_in_datagram(payload: &[u8], destination: SocketAddr) -> Option<RequestSeen> {
    let HeadStatus::Complete { head, len } = http::parse_request_head(payload, true) else {
        return None;
    };
    let head_bytes = &payload[..len.min(payload.len())];
    Some(seen_request(&head, head_bytes, destination))
}

fn seen_request(head: &RequestHead<'_>, head_bytes: &[u8], server: SocketAddr) -> RequestSeen {
    let request_line = head_bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .next()
        .unwrap_or_default();
    let words: Vec<&[u8]> = request_line.split(|&b| b == b' ').collect();
    let has_version = words.len() >= 3 && words.last().is_some_and(|w| w.starts_with(b"HTTP/"));
    let host = match head.host {
        None => Host::Missing,
        Some([]) => Host::Empty,
        Some(host) => Host::Present(String::from_utf8_lossy(host).into_owned()),
    };
    RequestSeen {
        uri: http::request_uri(head, server, false),
        method: String::from_utf8_lossy(head.method).into_owned(),
        target: String::from_utf8_lossy(head.target).into_owned(),
        host,
        has_version,
        range: 0..head_bytes.len() as u64,
        packets: Vec::new(),
    }
}

/// Finds request lines without a version (`METHOD target`) at segment starts.
pub fn bare_lines_in_stream(record: &StreamRecord) -> Vec<BareLine> {
    let mut lines = Vec::new();
    for run in runs(record) {
        for &(begin, _) in &run.deliveries {
            if let Some(line) = bare_line_at(&run, begin) {
                lines.push(line);
            }
        }
    }
    lines
}

fn bare_line_at(run: &Run, begin: usize) -> Option<BareLine> {
    let data = &run.bytes[begin..];
    let line_end = data.iter().position(|&b| b == b'\n')?;
    let line = &data[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, target] = words.as_slice() else {
        return None;
    };
    let is_method = !method.is_empty() && method.iter().all(u8::is_ascii_alphabetic);
    if !is_method || target.starts_with(b"HTTP/") {
        return None;
    }
    let next = &data[line_end + 1..];
    let headers_follow = !(next.is_empty() || next.starts_with(b"\r\n") || next.starts_with(b"\n"));
    Some(BareLine {
        method: String::from_utf8_lossy(method).into_owned(),
        target: String::from_utf8_lossy(target).into_owned(),
        headers_follow,
        packets: run.packets(begin..begin + line_end + 1),
    })
}

/// Finds every ClientHello that begins at a segment start of a client stream.
pub fn client_hellos_in_stream(record: &StreamRecord) -> Vec<ClientHelloSeen> {
    let mut hellos = Vec::new();
    for run in runs(record) {
        for &(begin, _) in &run.deliveries {
            let data = &run.bytes[begin..];
            if !tls::starts_client_hello(data) {
                continue;
            }
            let mut joiner = ClientHelloJoiner::new();
            let Ok(JoinProgress::Done {
                consumed,
                server_names,
            }) = joiner.push(data)
            else {
                continue;
            };
            let names = server_names
                .iter()
                .map(|name| {
                    let mut escaped = String::new();
                    tls::write_escaped_name(name, &mut escaped);
                    escaped
                })
                .collect();
            hellos.push(ClientHelloSeen {
                offset: run.offset(begin),
                names,
                packets: run.packets(begin..begin + consumed),
            });
        }
    }
    hellos
}

/// Returns true when `needle` occurs in the client stream bytes delivered
/// with `packet`, or straddles their start.
pub fn delivered_contains(record: &StreamRecord, packet: u64, needle: &[u8]) -> bool {
    for run in runs(record) {
        for (index, &(begin, delivered_with)) in run.deliveries.iter().enumerate() {
            if delivered_with != packet {
                continue;
            }
            let end = run
                .deliveries
                .get(index + 1)
                .map_or(run.bytes.len(), |next| next.0);
            let from = begin.saturating_sub(needle.len().saturating_sub(1));
            if contains(&run.bytes[from..end], needle) {
                return true;
            }
        }
    }
    false
}

/// Tells how a client stream begins.
pub fn stream_start(record: &StreamRecord) -> StreamStart {
    let Some(first) = runs(record).into_iter().find(|run| run.start == 0) else {
        return StreamStart::Other;
    };
    let data = first.bytes.as_slice();
    if http::is_http2_preface(data) {
        StreamStart::Http2
    } else if tls::starts_client_hello(data) {
        StreamStart::Tls
    } else if matches!(
        http::parse_request_head(data, true),
        HeadStatus::Complete { .. }
    ) {
        StreamStart::Http1
    } else {
        StreamStart::Other
    }
}

/// Looks for a segment of `range` (client stream offsets) that arrived
/// after a segment placed later in the stream. Returns the packets of the
/// early and the late segment.
///
/// `segments` are the client's segments of the connection in capture order.
/// Stream offset 0 is the byte after the client's SYN, or without a SYN the
/// first byte of the first data segment.
pub fn out_of_order(segments: &[SegmentSeen], range: &Range<u64>) -> Option<(u64, u64)> {
    let base = segments
        .iter()
        .find(|segment| segment.syn)
        .map(|syn| syn.sequence.wrapping_add(1))
        .or_else(|| {
            segments
                .iter()
                .find(|segment| segment.len > 0)
                .map(|first| first.sequence)
        })?;
    let inside: Vec<(u64, Range<u64>)> = segments
        .iter()
        .filter(|segment| segment.len > 0 && !segment.syn)
        .map(|segment| {
            let start = u64::from(segment.sequence.wrapping_sub(base));
            (segment.packet, start..start + u64::from(segment.len))
        })
        .filter(|(_, bytes)| bytes.start < range.end && bytes.end > range.start)
        .collect();

    for (later, (packet, bytes)) in inside.iter().enumerate() {
        let earlier = &inside[..later];
        let brings_new_bytes = (bytes.start..bytes.end)
            .any(|offset| !earlier.iter().any(|(_, seen)| seen.contains(&offset)));
        if !brings_new_bytes {
            continue;
        }
        if let Some((early_packet, _)) = earlier.iter().find(|(_, seen)| seen.start > bytes.start) {
            return Some((*early_packet, *packet));
        }
    }
    None
}

/// Encodes a presentation-form DNS name as wire-format labels; `None` for
/// names with escapes or labels that cannot be encoded.
pub fn wire_name(name: &str) -> Option<Vec<u8>> {
    if name.is_empty() || name.contains('\\') {
        return None;
    }
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|len| (1..=63).contains(len))?;
        wire.push(len);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    Some(wire)
}

/// Returns true when `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::evidence::Chunk;

    fn record(chunks: &[(u64, u64, &[u8])]) -> StreamRecord {
        StreamRecord {
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "192.0.2.1:8080".parse().unwrap(),
            first_packet: 1,
            chunks: chunks
                .iter()
                .map(|&(offset, packet, data)| Chunk {
                    offset,
                    packet,
                    data: data.to_vec(),
                })
                .collect(),
            truncated: false,
        }
    }

    #[test]
    fn requests_found_across_segments_and_pipelined() {
        let first = b"GET /a HTTP/1.1\r\nHo";
        let second =
            b"st: h\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c\r\nX: y\r\n\r\n";
        let stream = record(&[(0, 4, first), (first.len() as u64, 6, second)]);
        let requests = requests_in_stream(&stream);
        let uris: Vec<&str> = requests.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "http://h/a",
                "http://192.0.2.1:8080/b",
                "http://192.0.2.1:8080/c"
            ]
        );
        assert_eq!(requests[0].packets, [4, 6]);
        assert_eq!(requests[0].host, Host::Present("h".into()));
        assert_eq!(requests[1].host, Host::Missing);
        assert!(requests[1].has_version);
        assert!(!requests[2].has_version);
    }

    #[test]
    fn request_empty_host_seen() {
        let stream = record(&[(0, 3, b"GET /x HTTP/1.1\r\nHost:\r\n\r\n")]);
        let requests = requests_in_stream(&stream);
        assert_eq!(requests[0].host, Host::Empty);
        assert_eq!(requests[0].uri, "http://192.0.2.1:8080/x");
    }

    #[test]
    fn bare_line_without_headers_found() {
        let stream = record(&[
            (0, 3, b"GET /x\r\n\r\n"),
            (10, 5, b"GET /y\r\nA: b\r\n\r\n"),
        ]);
        let lines = bare_lines_in_stream(&stream);
        assert_eq!(lines.len(), 2);
        assert!(!lines[0].headers_follow);
        assert!(lines[1].headers_follow);
        assert_eq!(lines[1].packets, [5]);
    }

    #[test]
    fn segments_out_of_order_found_in_range() {
        let segment = |packet, sequence, len, syn| SegmentSeen {
            packet,
            source: "10.0.0.1:40000".parse().unwrap(),
            sequence,
            len,
            syn,
        };
        // SYN at 999: stream offset 0 is sequence 1000.
        let segments = [
            segment(1, 999, 0, true),
            segment(4, 1010, 10, false),
            segment(5, 1000, 10, false),
        ];
        assert_eq!(out_of_order(&segments, &(0..20)), Some((4, 5)));
        assert_eq!(out_of_order(&segments, &(0..10)), None);

        let in_order = [
            segment(1, 999, 0, true),
            segment(4, 1000, 10, false),
            segment(5, 1010, 10, false),
            // A retransmission of old bytes is not out of order.
            segment(6, 1000, 10, false),
        ];
        assert_eq!(out_of_order(&in_order, &(0..20)), None);
    }

    #[test]
    fn wire_name_encoded() {
        assert_eq!(wire_name("a.bc").unwrap(), [1, b'a', 2, b'b', b'c', 0]);
        assert_eq!(wire_name("a\\.b"), None);
        assert_eq!(wire_name("a..b"), None);
    }
}
