//! The classes of difference between tshark's values and ours.
//!
//! The names are the rule names of the shared corpus's `differences.json`,
//! plus the known gaps of pcap-miner and the `vm_ip_range` setting.

/// The judgement of a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// A documented tshark behaviour or a setting explains it, and the
    /// product's contract decides which value is right.
    Known,
    /// pcap-miner does not do this yet; tshark's value is right.
    Gap,
    /// No rule explains it: a bug on one side, or a case to look into.
    Unexplained,
}

impl Verdict {
    /// Returns the word used in the output.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Known => "known",
            Verdict::Gap => "gap",
            Verdict::Unexplained => "unexplained",
        }
    }
}

/// One class of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub verdict: Verdict,
    /// The meaning of the class, in one line.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($constant:ident = $name:literal, $verdict:ident, $summary:literal;)*) => {
        $(pub const $constant: Rule = Rule {
            name: $name,
            verdict: Verdict::$verdict,
            summary: $summary,
        };)*

        /// Every class, in the order the README lists them.
        pub const ALL: &[Rule] = &[$($constant),*];
    };
}

rules! {
    TCP_DIRECTION_SYNACK = "tcp-direction-synack", Known,
        "no SYN seen: tshark names no server, pcap-miner takes the sender of the SYN-ACK";
    TCP_DIRECTION_PORT = "tcp-direction-port", Known,
        "no SYN or SYN-ACK seen: tshark names no server, pcap-miner takes the side with the lower port";
    TCP_DIRECTION_EQUAL_PORTS = "tcp-direction-equal-ports", Known,
        "no SYN or SYN-ACK and equal ports: pcap-miner takes the destination of the first packet";
    TCP_VM_RANGE = "tcp-vm-range", Known,
        "--vm-ip-range is set: pcap-miner reports the side outside the VM network, tshark the responder";
    HTTP_NO_HOST = "http-no-host", Known,
        "request without Host: tshark gives no URI, pcap-miner uses the server address";
    HTTP_EMPTY_HOST = "http-empty-host", Known,
        "empty Host: tshark writes http:///path, pcap-miner uses the server address";
    HTTP_OUT_OF_ORDER = "http-out-of-order", Known,
        "request in segments that arrived out of order: tshark does not reassemble them by default";
    HTTP_OTHER_PORT = "http-other-port", Known,
        "request on a port tshark does not decode as HTTP (another dissector owns it, or its heuristics miss it)";
    HTTP_VERSIONLESS_NO_HEADERS = "http-versionless-no-headers", Known,
        "request line without version and without headers: tshark counts it, pcap-miner does not";
    HTTP_TARGET_FORM = "http-target-form", Known,
        "CONNECT with an origin-form target: tshark writes the bare target, pcap-miner builds http://host/path";
    HTTP_ESCAPING = "http-escaping", Known,
        "URI with bytes outside printable ASCII: tshark writes them as they are, pcap-miner as %XX";
    HTTP_QUOTED = "http-quoted", Known,
        "request inside a packet quoted by an ICMP error or an sFlow sample: a copy, not traffic";
    SNI_CONTENT = "sni-content", Known,
        "ClientHello that tshark does not dissect (after a plaintext upgrade, or on a port it does not try)";
    SNI_ESCAPING = "sni-escaping", Known,
        "server name with bytes outside printable ASCII or a backslash: tshark and pcap-miner write them differently";
    SNI_QUOTED = "sni-quoted", Known,
        "ClientHello inside a packet quoted by an ICMP error or an sFlow sample";
    DNS_PLACEHOLDER = "dns-placeholder", Known,
        "tshark prints a placeholder such as <Root> in place of a name";
    DNS_ESCAPING = "dns-escaping", Known,
        "name with a dot inside a label, a backslash or bytes outside printable ASCII: tshark and pcap-miner write them differently";
    DNS_QUOTED = "dns-quoted", Known,
        "query inside a packet quoted by an ICMP error or an sFlow sample";
    DNS_DOH = "dns-doh", Known,
        "query carried in an HTTP or HTTPS body (DNS over HTTPS): not reported";
    DNS_PORT = "dns-port", Known,
        "DNS on a port other than 53, 5353 and 5355: tshark finds it, pcap-miner does not look there";
    TSHARK_STOPPED_EARLY = "tshark-stopped-early", Known,
        "tshark stopped reading at damage in the file; pcap-miner read on past it";
    NEEDS_QUIC_DECRYPTION = "needs-quic-decryption", Gap,
        "server name in QUIC packets that tshark decrypted and pcap-miner did not";
    NEEDS_KEYLOG_DECRYPTION = "needs-keylog-decryption", Gap,
        "https:// request that tshark read after decrypting TLS with the key log and pcap-miner did not";
}

/// The class of a difference that no rule explains.
pub const UNEXPLAINED: Rule = Rule {
    name: "unexplained",
    verdict: Verdict::Unexplained,
    summary: "no known behaviour explains it",
};

/// The reason one value is only on one side, with the facts that were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub rule: Rule,
    /// The facts that were checked, in a sentence or two.
    pub evidence: String,
    /// A tshark run that must report the value for the rule to hold.
    pub confirm: Option<Confirmation>,
}

impl Explanation {
    /// Explains a difference by `rule`.
    pub fn known(rule: Rule, evidence: impl Into<String>) -> Self {
        Explanation {
            rule,
            evidence: evidence.into(),
            confirm: None,
        }
    }

    /// Leaves a difference unexplained, saying what was found.
    pub fn unexplained(evidence: impl Into<String>) -> Self {
        Explanation::known(UNEXPLAINED, evidence)
    }

    /// Adds a tshark run that must confirm the rule.
    pub fn confirmed_by(mut self, extra_arguments: Vec<String>) -> Self {
        self.confirm = Some(Confirmation { extra_arguments });
        self
    }
}

/// A tshark HTTP query with extra arguments; the value must appear in its output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Confirmation {
    pub extra_arguments: Vec<String>,
}
