//! `mine --format tshark`: our values in the line shapes of tshark's field
//! output, so that `diff` can compare them with a tshark command's.

use std::net::SocketAddr;

use pcap_miner::{IndicatorKind, IndicatorSets};

/// Help text for `--format tshark`, listing the shape of each kind.
pub const HELP: &str = "\
Line shapes of --format tshark (tshark commands take `-q -n -r CAPTURE` first):
  network-http  URI
      as: -T fields -e http.request.full_uri
  network-tcp   IPV4<TAB><TAB>PORT or <TAB>IPV6<TAB>PORT
      as: -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e ip.dst -e ipv6.dst -e tcp.dstport
  network-sni   NAME<TAB>PORT
      as: -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.extensions_server_name -e tcp.dstport
      (tshark prints the port of a QUIC server name in udp.dstport instead)
  network-dns   NAME
      as: -Y 'dns.flags.response == 0' -T fields -e dns.qry.name
      (tshark joins the names of one message with commas; add -E occurrence=a -E aggregator=<TAB>
      and split at tabs)
Lines are unique and sorted by their bytes, as `LC_ALL=C sort -u` sorts tshark's output. Without
--kind, each kind's lines follow a `# KIND` line. Pass --vm-ip-range '' --max-results -1 so that
network-tcp names each connection's server and no kind is dropped.";

/// Parses a `--kind` value: an attribute key such as `network-dns`.
pub fn parse_kind(key: &str) -> Result<IndicatorKind, String> {
    IndicatorKind::from_key(key).ok_or_else(|| {
        let keys: Vec<&str> = IndicatorKind::ALL.iter().map(|kind| kind.key()).collect();
        format!("unknown kind {key:?}; expected one of {}", keys.join(", "))
    })
}

/// Writes the values of `kind` (or of every kind, each after a `# KIND` line) in tshark's line shapes.
pub fn tshark_lines(indicators: &IndicatorSets, kind: Option<IndicatorKind>) -> String {
    let mut out = String::new();
    let kinds: Vec<IndicatorKind> = match kind {
        Some(kind) => vec![kind],
        None => IndicatorKind::ALL.to_vec(),
    };
    for each in kinds {
        if kind.is_none() {
            out.push_str("# ");
            out.push_str(each.key());
            out.push('\n');
        }
        for line in kind_lines(indicators, each) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Returns the lines of one kind, unique and sorted by bytes.
fn kind_lines(indicators: &IndicatorSets, kind: IndicatorKind) -> Vec<String> {
    let mut lines: Vec<String> = indicators
        .get(kind)
        .map(|value| match kind {
            IndicatorKind::Http | IndicatorKind::Dns => value.to_string(),
            IndicatorKind::Tcp => endpoint_line(value),
            IndicatorKind::Sni => server_name_line(value),
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

/// `1.2.3.4:80` becomes `1.2.3.4<TAB><TAB>80`, `[::1]:80` becomes `<TAB>::1<TAB>80`.
fn endpoint_line(value: &str) -> String {
    match value.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(v4)) => format!("{}\t\t{}", v4.ip(), v4.port()),
        Ok(SocketAddr::V6(v6)) => format!("\t{}\t{}", v6.ip(), v6.port()),
        Err(_) => value.to_string(),
    }
}

/// `name:443` becomes `name<TAB>443`; the port is after the last colon.
fn server_name_line(value: &str) -> String {
    match value.rsplit_once(':') {
        Some((name, port)) => format!("{name}\t{port}"),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_tshark_shapes() {
        let mut sets = IndicatorSets::new();
        sets.insert(IndicatorKind::Tcp, "10.0.0.10:80".into());
        sets.insert(IndicatorKind::Tcp, "10.0.0.1:80".into());
        sets.insert(IndicatorKind::Tcp, "[2001:db8::1]:443".into());
        sets.insert(IndicatorKind::Sni, "name.example:443:443".into());
        let tcp = tshark_lines(&sets, Some(IndicatorKind::Tcp));
        // Sorted as lines, not as values: a tab sorts before a digit.
        assert_eq!(tcp, "\t2001:db8::1\t443\n10.0.0.1\t\t80\n10.0.0.10\t\t80\n");
        let sni = tshark_lines(&sets, Some(IndicatorKind::Sni));
        assert_eq!(sni, "name.example:443\t443\n");
    }

    #[test]
    fn lines_of_all_kinds_have_headers() {
        let mut sets = IndicatorSets::new();
        sets.insert(IndicatorKind::Dns, "a.example".into());
        let text = tshark_lines(&sets, None);
        assert_eq!(
            text,
            "# network-dns\na.example\n# network-http\n# network-sni\n# network-tcp\n"
        );
    }
}
