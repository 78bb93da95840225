//! Values that differ only in how tshark and pcap-miner write unusual bytes.
//!
//! pcap-miner escapes by the product's contract. In DNS names it writes a
//! dot inside a label as `\.` and a backslash as `\\`. In DNS and SNI names
//! it writes other bytes outside printable ASCII as `\DDD` (decimal), and in
//! URIs as `%XX`. tshark
//! 4.0 writes most of them as they are: a dot inside a label as a plain dot,
//! control bytes in DNS names as `\ooo` (octal), a tab in a server name as
//! `\t`, bytes that are not UTF-8 as U+FFFD.
//!
//! Two values match when, with every escape and every byte outside printable
//! ASCII removed from both, the rest is the same.

use pcap_miner::IndicatorKind;

use super::rules::{self, Rule};

/// Returns the class of an escaping difference of `kind`.
pub fn rule(kind: IndicatorKind) -> Option<Rule> {
    match kind {
        IndicatorKind::Dns => Some(rules::DNS_ESCAPING),
        IndicatorKind::Sni => Some(rules::SNI_ESCAPING),
        IndicatorKind::Http => Some(rules::HTTP_ESCAPING),
        IndicatorKind::Tcp => None,
    }
}

/// Returns true when `ours` and `theirs` differ only in escaping.
// NOTE: both skeletons drop every byte outside printable ASCII, so two values
// that differ only in such bytes (and are seen in one frame) also match.
pub fn same_bytes(kind: IndicatorKind, ours: &str, theirs: &str) -> bool {
    let escaped = match kind {
        IndicatorKind::Http => ours.contains('%'),
        IndicatorKind::Dns | IndicatorKind::Sni => ours.contains('\\'),
        IndicatorKind::Tcp => false,
    };
    escaped && ours != theirs && our_skeleton(kind, ours) == tshark_skeleton(kind, theirs)
}

/// Printable ASCII other than a backslash: the characters both sides write as they are.
fn is_plain(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && byte != b'\\'
}

/// Removes our escapes and what they stand for, keeping plain characters.
fn our_skeleton(kind: IndicatorKind, value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let rest = &bytes[index..];
        if kind == IndicatorKind::Http && is_percent_escape(rest) {
            index += 3;
            continue;
        }
        if kind != IndicatorKind::Http && rest[0] == b'\\' {
            // `\DDD` in both kinds; `\.` and `\\` in DNS names only, where a
            // backslash is always an escape. In a server name it stands for itself.
            let decimal = rest.len() >= 4 && rest[1..4].iter().all(u8::is_ascii_digit);
            let dns_pair = kind == IndicatorKind::Dns && matches!(rest.get(1), Some(b'.' | b'\\'));
            if decimal {
                index += 4;
            } else if dns_pair {
                if rest[1] == b'.' {
                    out.push(b'.');
                }
                index += 2;
            } else {
                index += 1;
            }
            continue;
        }
        if is_plain(rest[0]) {
            out.push(rest[0]);
        }
        index += 1;
    }
    out
}

/// Removes tshark's escapes and every character outside printable ASCII.
fn tshark_skeleton(kind: IndicatorKind, value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let rest = &bytes[index..];
        if kind == IndicatorKind::Http && is_percent_escape(rest) {
            index += 3;
            continue;
        }
        if rest[0] == b'\\' {
            let octal = rest.len() >= 4 && rest[1..4].iter().all(|b| (b'0'..=b'7').contains(b));
            let control = matches!(rest.get(1), Some(b't' | b'n' | b'r'));
            index += if octal {
                4
            } else if control {
                2
            } else {
                1
            };
            continue;
        }
        if is_plain(rest[0]) {
            out.push(rest[0]);
        }
        index += 1;
    }
    out
}

fn is_percent_escape(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[0] == b'%' && bytes[1..3].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_dot_in_label_matches() {
        assert!(same_bytes(
            IndicatorKind::Dns,
            "odd\\.label.example",
            "odd.label.example"
        ));
    }

    #[test]
    fn dns_control_and_non_utf8_bytes_match() {
        assert!(same_bytes(
            IndicatorKind::Dns,
            "a\\001b\\032c\\.d.example",
            "a\\001b c.d.example"
        ));
        assert!(same_bytes(
            IndicatorKind::Dns,
            "x\\\\y\\233.example",
            "x\\y\u{fffd}.example"
        ));
    }

    #[test]
    fn sni_backslash_stands_for_itself() {
        assert!(same_bytes(
            IndicatorKind::Sni,
            "a\\d\\233e\\127f.example:443",
            "a\\d\u{fffd}e\u{7f}f.example:443"
        ));
    }

    #[test]
    fn sni_tab_and_raw_control_match() {
        assert!(same_bytes(
            IndicatorKind::Sni,
            "a\\001b\\009c.example:443",
            "a\u{1}b\\tc.example:443"
        ));
    }

    #[test]
    fn http_percent_escapes_match_raw_bytes() {
        assert!(same_bytes(
            IndicatorKind::Http,
            "http://h%02%E9st/p%01q%E9%20r",
            "http://h\u{2}\u{fffd}st/p\u{1}q\u{fffd} r"
        ));
    }

    #[test]
    fn different_names_do_not_match() {
        assert!(!same_bytes(
            IndicatorKind::Dns,
            "odd\\.label.example",
            "other.label.example"
        ));
        // Without an escape on our side there is nothing to explain.
        assert!(!same_bytes(IndicatorKind::Dns, "a.example", "a.example."));
    }
}
