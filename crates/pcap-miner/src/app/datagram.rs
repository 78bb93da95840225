//! UDP datagrams: DNS messages on the DNS ports, QUIC Initial packets and
//! HTTP requests on any port.

use std::net::SocketAddr;

use super::dns::DnsMessageSlice;
use super::http::{self, HeadStatus};
use super::tls::write_escaped_name;
use super::{Finding, Findings, DNS_PORTS};

/// Bit set in the first byte of every QUIC long header packet.
const QUIC_LONG_HEADER: u8 = 0x80;

/// Reads one UDP datagram for DNS queries, QUIC ClientHellos and HTTP requests.
pub fn mine_datagram(
    source: SocketAddr,
    destination: SocketAddr,
    payload: &[u8],
    findings: &mut Findings,
) {
    if DNS_PORTS.contains(&source.port()) || DNS_PORTS.contains(&destination.port()) {
        mine_dns_message(payload, findings);
        return;
    }
    // A request line starts with a token character, which never has the top bit set.
    if payload
        .first()
        .is_some_and(|byte| byte & QUIC_LONG_HEADER != 0)
    {
        mine_quic_initials(source, destination, payload, findings);
        return;
    }
    // SSDP and UPnP GENA send HTTP requests over UDP, one per datagram.
    if let HeadStatus::Complete { head, .. } = http::parse_request_head(payload, true) {
        findings.push(Finding::HttpUri(http::request_uri(
            &head,
            destination,
            false,
        )));
    }
}

/// Reports the server names of the QUIC ClientHellos this datagram completes, with the server's port.
fn mine_quic_initials(
    source: SocketAddr,
    destination: SocketAddr,
    payload: &[u8],
    findings: &mut Findings,
) {
    for name in findings.quic.datagram(source, destination, payload) {
        let mut escaped = String::with_capacity(name.len());
        write_escaped_name(&name, &mut escaped);
        findings.push(Finding::ServerName {
            name: escaped,
            port: destination.port(),
        });
    }
}

/// Reports the question names of a DNS query message; responses are ignored.
pub(crate) fn mine_dns_message(message: &[u8], findings: &mut Findings) {
    let Ok(message) = DnsMessageSlice::from_slice(message) else {
        findings.malformed_dns_names += 1;
        return;
    };
    if !message.is_query() {
        return;
    }
    for question in message.questions() {
        match question {
            Ok(question) if question.name().is_root() => {}
            Ok(question) => findings.push(Finding::DnsName(question.name().to_presentation())),
            Err(_) => findings.malformed_dns_names += 1,
        }
    }
}
