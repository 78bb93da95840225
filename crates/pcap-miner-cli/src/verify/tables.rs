//! tshark's text output read into the four indicator kinds, each value with
//! the frames it came from, and the TCP conversations with their SYN and
//! SYN-ACK packets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use pcap_miner::IndicatorKind;

/// Frame numbers kept per value; the total count is kept apart.
pub const MAX_FRAMES: usize = pcap_miner::indicators::MAX_FRAMES_PER_VALUE;

/// The frames a value was seen in: the first ones, and the count of all.
///
/// For pcap-miner's values the count is of the frames the library keeps, at most [`MAX_FRAMES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sightings {
    pub frames: Vec<u64>,
    pub count: u64,
}

impl Sightings {
    fn add(&mut self, frame: u64) {
        if self.frames.contains(&frame) {
            return;
        }
        self.count += 1;
        if self.frames.len() < MAX_FRAMES {
            self.frames.push(frame);
        }
    }
}

/// The column layout of one `-T fields` line after `frame.number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLayout {
    /// Columns that repeat once per message in the frame (URI, host, ...);
    /// the values are taken from the first of them.
    pub value_columns: usize,
    /// Port columns at the end (`tcp.dstport`, `udp.dstport`), each empty or
    /// holding one port per header of that kind.
    pub port_columns: usize,
}

impl RowLayout {
    /// One value column: the values of one field.
    pub const VALUES: RowLayout = RowLayout {
        value_columns: 1,
        port_columns: 0,
    };
    /// One value column, then `tcp.dstport` and `udp.dstport`.
    pub const VALUES_AND_PORTS: RowLayout = RowLayout {
        value_columns: 1,
        port_columns: 2,
    };
    /// The HTTP request table: URI, Host, target and method, then `tcp.dstport` and `udp.dstport`.
    pub const REQUEST_TABLE: RowLayout = RowLayout {
        value_columns: 4,
        port_columns: 2,
    };
}

/// One line of `-T fields` output, split into its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    pub frame: u64,
    /// Non-empty values of the first value column.
    pub values: Vec<String>,
    /// Every value column with its occurrences, empty ones included.
    pub columns: Vec<Vec<String>>,
    /// Ports of each port column, outermost header first.
    pub ports: Vec<Vec<u16>>,
}

/// One HTTP request as tshark decoded it; empty fields were absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsharkRequest {
    pub frame: u64,
    pub uri: String,
    pub host: String,
    pub target: String,
    pub method: String,
}

/// A TCP conversation as tshark numbers them (`tcp.stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub first_frame: u64,
    /// Source of the conversation's first packet.
    pub first_source: SocketAddr,
    /// Destination of the conversation's first packet.
    pub first_destination: SocketAddr,
    /// Frame of the first SYN without ACK, and its destination: the responder.
    pub syn: Option<(u64, SocketAddr)>,
    /// Frame of the first SYN-ACK, and its sender.
    pub syn_ack: Option<(u64, SocketAddr)>,
}

impl Conversation {
    /// Returns true when `endpoint` is one of the two ends.
    pub fn has_endpoint(&self, endpoint: SocketAddr) -> bool {
        self.first_source == endpoint || self.first_destination == endpoint
    }

    /// Returns the end that is not `endpoint`.
    pub fn other_end(&self, endpoint: SocketAddr) -> SocketAddr {
        if self.first_source == endpoint {
            self.first_destination
        } else {
            self.first_source
        }
    }
}

/// tshark's output text, before it is read.
#[derive(Debug, Clone)]
pub struct RawOutputs {
    /// HTTP output; with `http_every_frame` it has a line for every frame tshark read.
    pub http: (String, RowLayout),
    pub http_every_frame: bool,
    /// The HTTP request table, in [`RowLayout::REQUEST_TABLE`].
    pub http_requests: String,
    /// tshark stopped at damage in the capture.
    pub stopped_early: bool,
    pub conv_tcp: String,
    /// Layout: server names, then `tcp.dstport` and `udp.dstport`.
    pub client_hellos: String,
    pub dns: (String, RowLayout),
    pub tcp: TcpSource,
}

/// Per-conversation TCP facts: tshark's packet lines, or the streams table of a saved reference.
#[derive(Debug, Clone)]
pub enum TcpSource {
    /// Output of the `tcp packets` query (see `tshark::TCP_PACKET_FIELDS`).
    Packets(String),
    /// A `tcp_streams.tsv` table, one line per conversation.
    Streams(String),
}

/// tshark's view of a capture.
#[derive(Debug, Clone, Default)]
pub struct TsharkView {
    pub values: BTreeMap<IndicatorKind, BTreeMap<String, Sightings>>,
    /// SNI values that tshark saw only over UDP, that is in QUIC.
    pub sni_over_udp: BTreeSet<String>,
    /// Every frame in which tshark dissected a ClientHello, with a server name or without.
    pub client_hello_frames: BTreeSet<u64>,
    /// Every frame in which tshark gave an HTTP request URI.
    pub http_frames: BTreeSet<u64>,
    /// Every HTTP request tshark decoded, with a URI or without.
    pub requests: Vec<TsharkRequest>,
    /// Destination ports on which tshark decoded HTTP requests, as `(over_tcp, port)`.
    pub http_ports: BTreeSet<(bool, u16)>,
    pub conversations: Vec<Conversation>,
    /// The last frame tshark read, when its output shows it.
    pub last_frame: Option<u64>,
    /// tshark stopped at damage in the capture.
    pub stopped_early: bool,
    /// Lines that could not be read, and other doubts about the output.
    pub warnings: Vec<String>,
}

impl TsharkView {
    /// Returns the sightings of one value, if tshark reported it.
    pub fn sightings(&self, kind: IndicatorKind, value: &str) -> Option<&Sightings> {
        self.values.get(&kind).and_then(|values| values.get(value))
    }

    fn add(&mut self, kind: IndicatorKind, value: String, frame: u64) {
        self.values
            .entry(kind)
            .or_default()
            .entry(value)
            .or_default()
            .add(frame);
    }
}

/// Reads all outputs into one view.
pub fn read_view(raw: &RawOutputs) -> TsharkView {
    let mut view = TsharkView::default();
    for kind in IndicatorKind::ALL {
        view.values.insert(kind, BTreeMap::new());
    }

    view.stopped_early = raw.stopped_early;
    let (http_text, http_layout) = &raw.http;
    for row in parse_rows(http_text, *http_layout, "http", &mut view.warnings) {
        if raw.http_every_frame {
            view.last_frame = view.last_frame.max(Some(row.frame));
        }
        for uri in row.values {
            view.http_frames.insert(row.frame);
            view.add(IndicatorKind::Http, uri, row.frame);
        }
    }

    read_requests(&raw.http_requests, &mut view);
    read_client_hellos(&raw.client_hellos, &mut view);

    let (dns_text, dns_layout) = &raw.dns;
    for row in parse_rows(dns_text, *dns_layout, "dns queries", &mut view.warnings) {
        for name in row.values {
            view.add(IndicatorKind::Dns, name, row.frame);
        }
    }

    read_conversations(raw, &mut view);
    view
}

/// Reads the request table: one request per occurrence, and the ports HTTP was decoded on.
fn read_requests(text: &str, view: &mut TsharkView) {
    let rows = parse_rows(
        text,
        RowLayout::REQUEST_TABLE,
        "http requests",
        &mut view.warnings,
    );
    for row in rows {
        if let Some(port) = innermost_port(&row.ports) {
            view.http_ports.insert(port);
        }
        let [uris, hosts, targets, methods] = row.columns.as_slice() else {
            continue;
        };
        for index in 0..methods.len() {
            let column = |values: &[String]| values.get(index).cloned().unwrap_or_default();
            view.requests.push(TsharkRequest {
                frame: row.frame,
                uri: column(uris),
                host: column(hosts),
                target: column(targets),
                method: column(methods),
            });
        }
    }
}

/// Returns the innermost destination port of a row with `tcp.dstport` and `udp.dstport` columns.
fn innermost_port(ports: &[Vec<u16>]) -> Option<(bool, u16)> {
    let tcp = ports
        .first()
        .and_then(|ports| ports.last())
        .map(|&port| (true, port));
    let udp = ports
        .get(1)
        .and_then(|ports| ports.last())
        .map(|&port| (false, port));
    tcp.or(udp)
}

fn read_client_hellos(text: &str, view: &mut TsharkView) {
    let mut over_tcp_values = BTreeSet::new();
    for row in parse_rows(
        text,
        RowLayout::VALUES_AND_PORTS,
        "client hellos",
        &mut view.warnings,
    ) {
        view.client_hello_frames.insert(row.frame);
        let Some((over_tcp, port)) = innermost_port(&row.ports) else {
            if !row.values.is_empty() {
                view.warnings.push(format!(
                    "client hellos: frame {} has a server name but no TCP or UDP port; left out",
                    row.frame
                ));
            }
            continue;
        };
        for name in row.values {
            let value = format!("{name}:{port}");
            if over_tcp {
                over_tcp_values.insert(value.clone());
            } else {
                view.sni_over_udp.insert(value.clone());
            }
            view.add(IndicatorKind::Sni, value, row.frame);
        }
    }
    view.sni_over_udp
        .retain(|value| !over_tcp_values.contains(value));
}

fn read_conversations(raw: &RawOutputs, view: &mut TsharkView) {
    let rows = parse_conv_tcp(&raw.conv_tcp, &mut view.warnings);
    let streams = match &raw.tcp {
        TcpSource::Packets(text) => parse_tcp_packets(text, &mut view.warnings),
        TcpSource::Streams(text) => parse_tcp_streams(text, &mut view.warnings),
    };
    view.conversations = match_conversations(&rows, streams, &mut view.warnings);
    let responders: Vec<(u64, SocketAddr)> = view
        .conversations
        .iter()
        .filter_map(|conversation| conversation.syn)
        .collect();
    for (frame, responder) in responders {
        view.add(IndicatorKind::Tcp, responder.to_string(), frame);
    }
}

/// Splits `-T fields` lines whose first column is `frame.number`.
///
/// Several occurrences of a field in one frame are tab-joined inside their
/// column, so the columns are found by shape: port columns hold digits or
/// are empty, and the value columns before them repeat equally often.
pub fn parse_rows(
    text: &str,
    layout: RowLayout,
    source: &str,
    warnings: &mut Vec<String>,
) -> Vec<FieldRow> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let tokens: Vec<&str> = line.split('\t').collect();
        let Some(frame) = tokens.first().and_then(|token| token.parse::<u64>().ok()) else {
            warnings.push(format!(
                "{source}: line {} does not start with a frame number; left out",
                index + 1
            ));
            continue;
        };
        match split_row(&tokens[1..], layout) {
            Some((columns, ports)) => rows.push(FieldRow {
                frame,
                values: columns
                    .first()
                    .into_iter()
                    .flatten()
                    .filter(|value| !value.is_empty())
                    .cloned()
                    .collect(),
                columns,
                ports,
            }),
            None => warnings.push(format!(
                "{source}: the columns of frame {frame} cannot be told apart; left out"
            )),
        }
    }
    rows
}

/// Splits the tokens after the frame number into values and port columns.
///
/// Takes the shortest run of value tokens that leaves valid port columns.
// NOTE: a value made only of digits directly before the port columns (a DNS
// label such as `1234` as a whole name) is taken for a port.
fn split_row(tokens: &[&str], layout: RowLayout) -> Option<(ValueColumns, PortColumns)> {
    let columns = layout.value_columns.max(1);
    let max_middle = tokens.len().checked_sub(layout.port_columns)?;
    for middle_len in 1..=max_middle {
        let (middle, tail) = tokens.split_at(middle_len);
        if middle_len % columns != 0 {
            continue;
        }
        if columns == 1 && middle.len() > 1 && middle.contains(&"") {
            continue;
        }
        let Some(ports) = split_ports(tail, layout.port_columns) else {
            continue;
        };
        let per_column = middle_len / columns;
        let values = middle
            .chunks(per_column)
            .map(|column| column.iter().map(|value| (*value).to_string()).collect())
            .collect();
        return Some((values, ports));
    }
    None
}

/// Value columns, each with its occurrences.
type ValueColumns = Vec<Vec<String>>;

/// Port columns, each with the ports of every header of its kind.
type PortColumns = Vec<Vec<u16>>;

/// Splits `tokens` into `count` port columns, each one empty token or one
/// or more port numbers (a tunnel adds outer headers of the same kind).
/// Earlier columns take as few tokens as they can.
fn split_ports(tokens: &[&str], count: usize) -> Option<PortColumns> {
    if count == 0 {
        return tokens.is_empty().then(Vec::new);
    }
    let longest = tokens.len().checked_sub(count - 1)?;
    for len in 1..=longest {
        let (column, rest) = tokens.split_at(len);
        let Some(ports) = port_column(column) else {
            continue;
        };
        if let Some(mut columns) = split_ports(rest, count - 1) {
            columns.insert(0, ports);
            return Some(columns);
        }
    }
    None
}

fn port_column(tokens: &[&str]) -> Option<Vec<u16>> {
    if tokens == [""] {
        return Some(Vec::new());
    }
    tokens
        .iter()
        .map(|token| token.parse::<u16>().ok())
        .collect()
}

/// Reads the endpoint pairs of the `-z conv,tcp` table, in table order.
pub fn parse_conv_tcp(text: &str, warnings: &mut Vec<String>) -> Vec<(SocketAddr, SocketAddr)> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(left), Some("<->"), Some(right)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        match (parse_endpoint(left), parse_endpoint(right)) {
            (Some(left), Some(right)) => rows.push((left, right)),
            _ => warnings.push(format!("conv,tcp: cannot read the endpoints of {line:?}")),
        }
    }
    rows
}

/// Reads `a.b.c.d:port`, `[v6]:port` or tshark's bracketless `v6:port`.
pub fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    if let Ok(endpoint) = text.parse::<SocketAddr>() {
        return Some(endpoint);
    }
    let (address, port) = text.rsplit_once(':')?;
    let address: IpAddr = address.parse().ok()?;
    Some(SocketAddr::new(address, port.parse().ok()?))
}

/// Conversation facts gathered from packet lines, keyed by `tcp.stream`.
#[derive(Debug)]
struct StreamFacts {
    stream: u64,
    conversation: Conversation,
}

/// Builds one conversation per `tcp.stream` from the `tcp packets` query.
fn parse_tcp_packets(text: &str, warnings: &mut Vec<String>) -> Vec<StreamFacts> {
    let mut streams: Vec<StreamFacts> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut unreadable = 0usize;
    for line in text.lines().filter(|line| !line.is_empty()) {
        let Some(packet) = TcpPacketLine::parse(line) else {
            unreadable += 1;
            continue;
        };
        let position = *index.entry(packet.stream).or_insert_with(|| {
            streams.push(StreamFacts {
                stream: packet.stream,
                conversation: Conversation {
                    first_frame: packet.frame,
                    first_source: packet.source,
                    first_destination: packet.destination,
                    syn: None,
                    syn_ack: None,
                },
            });
            streams.len() - 1
        });
        let conversation = &mut streams[position].conversation;
        match (packet.syn, packet.ack) {
            (true, false) if conversation.syn.is_none() => {
                conversation.syn = Some((packet.frame, packet.destination));
            }
            (true, true) if conversation.syn_ack.is_none() => {
                conversation.syn_ack = Some((packet.frame, packet.source));
            }
            _ => {}
        }
    }
    if unreadable > 0 {
        warnings.push(format!(
            "tcp packets: {unreadable} lines without a stream number or addresses; left out"
        ));
    }
    streams
}

/// One line of the `tcp packets` query.
struct TcpPacketLine {
    stream: u64,
    frame: u64,
    source: SocketAddr,
    destination: SocketAddr,
    syn: bool,
    ack: bool,
}

impl TcpPacketLine {
    fn parse(line: &str) -> Option<Self> {
        let columns: Vec<&str> = line.split('\t').collect();
        let [stream, frame, protocols, ip_src, ip_dst, ipv6_src, ipv6_dst, sport, dport, syn, ack] =
            columns.as_slice()
        else {
            return None;
        };
        // The innermost IP header is the last `ip` or `ipv6` in the protocol chain.
        let innermost_v6 = protocols
            .split(':')
            .rev()
            .find(|protocol| *protocol == "ip" || *protocol == "ipv6")
            .map(|protocol| protocol == "ipv6")?;
        let (source, destination) = if innermost_v6 {
            (ipv6_src, ipv6_dst)
        } else {
            (ip_src, ip_dst)
        };
        Some(TcpPacketLine {
            stream: stream.parse().ok()?,
            frame: frame.parse().ok()?,
            source: SocketAddr::new(source.parse().ok()?, sport.parse().ok()?),
            destination: SocketAddr::new(destination.parse().ok()?, dport.parse().ok()?),
            syn: is_set(syn),
            ack: is_set(ack),
        })
    }
}

/// tshark 4.0 prints boolean fields as `1`/`0`; later versions may print `True`/`False`.
fn is_set(flag: &str) -> bool {
    flag == "1" || flag.eq_ignore_ascii_case("true")
}

/// Reads a saved `tcp_streams.tsv`: stream, first frame, source and
/// destination of the first packet, first SYN frame, responder, first
/// SYN-ACK frame, its sender (`-` where none was seen).
fn parse_tcp_streams(text: &str, warnings: &mut Vec<String>) -> Vec<StreamFacts> {
    let mut streams = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_stream_line(line) {
            Some(stream) => streams.push(stream),
            None => warnings.push(format!("tcp_streams.tsv: cannot read {line:?}")),
        }
    }
    streams
}

fn parse_stream_line(line: &str) -> Option<StreamFacts> {
    let columns: Vec<&str> = line.split('\t').collect();
    let [stream, first_frame, source, destination, syn_frame, responder, syn_ack_frame, syn_ack_sender] =
        columns.as_slice()
    else {
        return None;
    };
    let sighting = |frame: &str, endpoint: &str| -> Option<Option<(u64, SocketAddr)>> {
        if frame == "-" {
            return Some(None);
        }
        Some(Some((frame.parse().ok()?, parse_endpoint(endpoint)?)))
    };
    Some(StreamFacts {
        stream: stream.parse().ok()?,
        conversation: Conversation {
            first_frame: first_frame.parse().ok()?,
            first_source: parse_endpoint(source)?,
            first_destination: parse_endpoint(destination)?,
            syn: sighting(syn_frame, responder)?,
            syn_ack: sighting(syn_ack_frame, syn_ack_sender)?,
        },
    })
}

/// Pairs each `conv,tcp` row with the stream whose first packet went from
/// the row's left end to its right end, in stream order.
///
/// Streams without a row (tshark numbers TCP headers it decodes inside other
/// payloads too) are left out. Rows without a stream keep their ends and no
/// SYN information.
fn match_conversations(
    rows: &[(SocketAddr, SocketAddr)],
    streams: Vec<StreamFacts>,
    warnings: &mut Vec<String>,
) -> Vec<Conversation> {
    let mut unmatched: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for row in rows {
        *unmatched.entry(*row).or_default() += 1;
    }
    let mut conversations = Vec::with_capacity(rows.len());
    let mut left_out = Vec::new();
    for stream in streams {
        let conversation = stream.conversation;
        let forward = (conversation.first_source, conversation.first_destination);
        let backward = (forward.1, forward.0);
        let key = [forward, backward]
            .into_iter()
            .find(|key| unmatched.get(key).is_some_and(|count| *count > 0));
        match key {
            Some(key) => {
                if let Some(count) = unmatched.get_mut(&key) {
                    *count -= 1;
                }
                conversations.push(conversation);
            }
            None => left_out.push(stream.stream),
        }
    }
    if !left_out.is_empty() {
        warnings.push(format!(
            "tcp: {} tshark streams have no conv,tcp row and are left out (streams {})",
            left_out.len(),
            list_numbers(&left_out)
        ));
    }
    for (&(left, right), &count) in &unmatched {
        for _ in 0..count {
            warnings.push(format!(
                "conv,tcp: no TCP packets of {left} <-> {right} were listed; its direction is unknown"
            ));
            conversations.push(Conversation {
                first_frame: 0,
                first_source: left,
                first_destination: right,
                syn: None,
                syn_ack: None,
            });
        }
    }
    conversations
}

/// Writes `frame N` or `frames N, M, ...`.
pub fn frames_phrase(frames: &[u64]) -> String {
    let noun = if frames.len() == 1 { "frame" } else { "frames" };
    format!("{noun} {}", list_numbers(frames))
}

/// Writes numbers comma-separated, the first few only.
pub fn list_numbers(numbers: &[u64]) -> String {
    const SHOWN: usize = 8;
    let mut text = numbers
        .iter()
        .take(SHOWN)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if numbers.len() > SHOWN {
        text.push_str(&format!(" and {} more", numbers.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_VALUE: RowLayout = RowLayout {
        value_columns: 1,
        port_columns: 0,
    };
    const VALUE_TWO_PORTS: RowLayout = RowLayout {
        value_columns: 1,
        port_columns: 2,
    };

    /// Returns the non-empty values of the first column, and the ports.
    fn split(line: &str, layout: RowLayout) -> Option<(Vec<String>, Vec<Vec<u16>>)> {
        let tokens: Vec<&str> = line.split('\t').collect();
        let (columns, ports) = split_row(&tokens, layout)?;
        let values = columns[0]
            .iter()
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        Some((values, ports))
    }

    #[test]
    fn row_several_names_one_column() {
        let (values, ports) = split("a.example\tb.example", ONE_VALUE).unwrap();
        assert_eq!(values, ["a.example", "b.example"]);
        assert!(ports.is_empty());
    }

    #[test]
    fn row_tcp_port_then_empty_udp() {
        let (values, ports) = split("a.example\tb.example\t443\t", VALUE_TWO_PORTS).unwrap();
        assert_eq!(values, ["a.example", "b.example"]);
        assert_eq!(ports, [vec![443], vec![]]);
    }

    #[test]
    fn row_quic_in_tunnel_has_two_udp_ports() {
        let (values, ports) = split("a.example\t\t4789\t443", VALUE_TWO_PORTS).unwrap();
        assert_eq!(values, ["a.example"]);
        assert_eq!(ports, [vec![], vec![4789, 443]]);
    }

    #[test]
    fn row_tunnelled_dns_keeps_udp_ports() {
        let (values, ports) = split("a.example\t6081\t4789\t53\t", VALUE_TWO_PORTS).unwrap();
        assert_eq!(values, ["a.example"]);
        assert_eq!(ports, [vec![6081, 4789, 53], vec![]]);
    }

    #[test]
    fn row_without_name_has_no_values() {
        let (values, ports) = split("\t443\t", VALUE_TWO_PORTS).unwrap();
        assert!(values.is_empty());
        assert_eq!(ports, [vec![443], vec![]]);
    }

    #[test]
    fn row_four_value_columns_split_evenly() {
        let layout = RowLayout {
            value_columns: 4,
            port_columns: 2,
        };
        let line = "http://h/a\thttp://h/b\th\th\t/a\t/b\tGET\tGET\t80\t";
        let (values, _) = split(line, layout).unwrap();
        assert_eq!(values, ["http://h/a", "http://h/b"]);

        // A request without Host has no URI: the first column is empty.
        let tokens: Vec<&str> = "\t\t/x\tGET\t80\t".split('\t').collect();
        let (columns, ports) = split_row(&tokens, layout).unwrap();
        assert_eq!(columns, [[""], [""], ["/x"], ["GET"]]);
        assert_eq!(ports, [vec![80], vec![]]);
    }

    #[test]
    fn row_uneven_columns_rejected() {
        let layout = RowLayout {
            value_columns: 4,
            port_columns: 2,
        };
        assert_eq!(split("a\tb\tc\t80\t", layout), None);
    }

    #[test]
    fn rows_report_bad_frame_number() {
        let mut warnings = Vec::new();
        let rows = parse_rows("7\tx.example\nframe\ty\n", ONE_VALUE, "dns", &mut warnings);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].frame, 7);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn conv_tcp_reads_ipv4_and_bare_ipv6() {
        let text = "================\nTCP Conversations\n\
            |       <-      | |       ->      |\n\
            10.0.0.1:1234   <-> 192.0.2.1:80   1 60 bytes\n\
            ::1:39632       <-> ::1:4433       7 4116 bytes\n";
        let mut warnings = Vec::new();
        let rows = parse_conv_tcp(text, &mut warnings);
        assert_eq!(
            rows,
            [
                (addr("10.0.0.1:1234"), addr("192.0.2.1:80")),
                (addr("[::1]:39632"), addr("[::1]:4433")),
            ]
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn tcp_packets_use_innermost_ip() {
        let line = "0\t1\teth:ethertype:ipv6:ip:tcp\t70.55.213.211\t192.88.99.1\t\
                    2002::1\t2001:db8::68\t31337\t80\t1\t0";
        let mut warnings = Vec::new();
        let streams = parse_tcp_packets(line, &mut warnings);
        let conversation = &streams[0].conversation;
        assert_eq!(conversation.first_source, addr("70.55.213.211:31337"));
        assert_eq!(conversation.syn, Some((1, addr("192.88.99.1:80"))));
    }

    #[test]
    fn conversations_match_rows_and_keep_reuse() {
        let text = "0\t1\teth:ip:tcp\t10.0.0.1\t192.0.2.1\t\t\t1000\t80\t1\t0\n\
                    0\t2\teth:ip:tcp\t192.0.2.1\t10.0.0.1\t\t\t80\t1000\t1\t1\n\
                    1\t5\teth:ip:tcp\t10.0.0.1\t192.0.2.1\t\t\t1000\t80\t1\t0\n\
                    2\t9\teth:ip:icmp:ip:tcp\t10.0.0.1\t192.0.2.9\t\t\t1\t2\t0\t1\n";
        let mut warnings = Vec::new();
        let streams = parse_tcp_packets(text, &mut warnings);
        let rows = [
            (addr("10.0.0.1:1000"), addr("192.0.2.1:80")),
            (addr("10.0.0.1:1000"), addr("192.0.2.1:80")),
        ];
        let conversations = match_conversations(&rows, streams, &mut warnings);
        assert_eq!(conversations.len(), 2);
        assert_eq!(conversations[0].syn_ack, Some((2, addr("192.0.2.1:80"))));
        assert_eq!(conversations[1].syn, Some((5, addr("192.0.2.1:80"))));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn tcp_streams_table_read() {
        let text = "#stream\tfirst_frame\n\
            0\t2\t75.126.130.163:80\t192.168.2.16:1576\t-\t-\t-\t-\n\
            1\t9\t[2001:db8:0:0::1]:1578\t[2001:db8::2]:80\t9\t[2001:db8::2]:80\t11\t[2001:db8::2]:80\n";
        let mut warnings = Vec::new();
        let streams = parse_tcp_streams(text, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(streams[0].conversation.syn, None);
        assert_eq!(
            streams[1].conversation.syn,
            Some((9, addr("[2001:db8::2]:80")))
        );
        assert_eq!(
            streams[1].conversation.first_source.to_string(),
            "[2001:db8::1]:1578"
        );
    }

    #[test]
    fn sni_over_udp_only_when_never_over_tcp() {
        let raw = RawOutputs {
            http: (String::new(), VALUE_TWO_PORTS),
            http_every_frame: true,
            http_requests: String::new(),
            stopped_early: false,
            conv_tcp: String::new(),
            client_hellos: "3\tq.example\t\t443\n4\tt.example\t443\t\n5\tt.example\t\t443\n".into(),
            dns: (String::new(), ONE_VALUE),
            tcp: TcpSource::Packets(String::new()),
        };
        let view = read_view(&raw);
        assert_eq!(
            view.sni_over_udp.iter().collect::<Vec<_>>(),
            ["q.example:443"]
        );
        assert_eq!(
            view.sightings(IndicatorKind::Sni, "t.example:443")
                .unwrap()
                .frames,
            [4, 5]
        );
    }

    #[test]
    fn request_table_keeps_requests_without_uri() {
        let raw = RawOutputs {
            http: (String::new(), ONE_VALUE),
            http_every_frame: false,
            http_requests: "4\thttp://h/a\th\t/a\tGET\t80\t\n9\t\t\t/b\tPOST\t8080\t\n".into(),
            stopped_early: false,
            conv_tcp: String::new(),
            client_hellos: String::new(),
            dns: (String::new(), ONE_VALUE),
            tcp: TcpSource::Packets(String::new()),
        };
        let view = read_view(&raw);
        assert_eq!(view.requests.len(), 2);
        assert_eq!(view.requests[1].target, "/b");
        assert_eq!(view.requests[1].host, "");
        assert_eq!(
            view.http_ports.iter().collect::<Vec<_>>(),
            [&(true, 80), &(true, 8080)]
        );
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }
}
