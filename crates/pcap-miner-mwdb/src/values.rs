//! Attribute values and the changes made to them before sending.

use std::collections::BTreeSet;

use crate::MwdbError;

/// Default cap on the length of a value sent to MWDB, in bytes.
///
/// MWDB 2.20 sets no limit of its own (PostgreSQL JSONB stops near 255 MB).
/// Indicators are normally far shorter; this cap keeps a runaway URI out of
/// the web UI and the search index. It is a judgement call, not a server limit.
pub const DEFAULT_MAX_VALUE_LEN: usize = 4096;

/// Maximum length of an MWDB attribute key, which contains only letters, digits, `_` and `-`.
const MAX_KEY_LEN: usize = 32;

/// The text that replaces each NUL character in a value.
const NUL_ESCAPE: &str = "\\x00";

/// One attribute value: an MWDB attribute key and a string value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

impl Attribute {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Limits applied to values before they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRules {
    /// Maximum length of a value in bytes; longer values are cut at a character boundary.
    pub max_len: usize,
}

impl Default for ValueRules {
    fn default() -> Self {
        ValueRules {
            max_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}

/// One change made to a value so that MWDB stores it intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This many NUL characters were written as `\x00`.
    NulEscaped { count: usize },
    /// The value (after escaping) was this many bytes long and was cut to the maximum length.
    Truncated { original_len: usize },
}

/// A value that was changed before sending, with the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub key: String,
    pub original: String,
    pub sent: String,
    pub changes: Vec<Change>,
}

/// Values ready to send: keys normalised, values escaped and capped, duplicates removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreparedValues {
    /// The values to send, sorted by key and value, each once.
    pub attributes: Vec<Attribute>,
    /// Values that were changed on the way.
    pub adjusted: Vec<Adjustment>,
    /// Empty values, which MWDB rejects with 400; they are not sent.
    pub empty: Vec<Attribute>,
}

/// Makes values safe to send.
///
/// Keys are trimmed and lower-cased as MWDB does, and must then be 1 to 32
/// letters, digits, `_` or `-`, else the whole call fails with
/// [`MwdbError::InvalidKey`]. In values, each NUL character becomes the four
/// characters `\x00`, because MWDB 2.20 fails with 500 on a NUL. A literal
/// `\x00` already in a value is left as it is, so the escaping cannot be
/// undone exactly. A value still longer than `rules.max_len` bytes is cut at
/// the last character boundary within the limit. Empty values are set aside.
pub fn prepare(
    values: impl IntoIterator<Item = Attribute>,
    rules: &ValueRules,
) -> Result<PreparedValues, MwdbError> {
    let mut prepared = PreparedValues::default();
    let mut unique = BTreeSet::new();

    for attribute in values {
        let key = normalize_key(&attribute.key)?;
        let (value, changes) = make_safe(&attribute.value, rules);
        if value.is_empty() {
            prepared.empty.push(Attribute::new(key, attribute.value));
            continue;
        }
        if !changes.is_empty() {
            prepared.adjusted.push(Adjustment {
                key: key.clone(),
                original: attribute.value,
                sent: value.clone(),
                changes,
            });
        }
        unique.insert(Attribute::new(key, value));
    }

    prepared.attributes = unique.into_iter().collect();
    Ok(prepared)
}

/// Trims and lower-cases a key as MWDB does, then checks what MWDB allows.
pub(crate) fn normalize_key(key: &str) -> Result<String, MwdbError> {
    let normalized = key.trim().to_ascii_lowercase();
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-';
    if normalized.is_empty() || normalized.len() > MAX_KEY_LEN || !normalized.bytes().all(allowed) {
        return Err(MwdbError::InvalidKey {
            key: key.to_string(),
        });
    }
    Ok(normalized)
}

fn make_safe(value: &str, rules: &ValueRules) -> (String, Vec<Change>) {
    let mut changes = Vec::new();

    let nul_count = value.matches('\0').count();
    let mut safe = if nul_count > 0 {
        changes.push(Change::NulEscaped { count: nul_count });
        value.replace('\0', NUL_ESCAPE)
    } else {
        value.to_string()
    };

    if safe.len() > rules.max_len {
        let original_len = safe.len();
        let mut end = rules.max_len;
        while !safe.is_char_boundary(end) {
            end -= 1;
        }
        safe.truncate(end);
        changes.push(Change::Truncated { original_len });
    }

    (safe, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare_one(value: &str, max_len: usize) -> PreparedValues {
        prepare(
            [Attribute::new("network-http", value)],
            &ValueRules { max_len },
        )
        .unwrap()
    }

    #[test]
    fn prepare_keeps_plain_values() {
        let prepared = prepare_one("http://evil.example/gate.php", 4096);
        assert_eq!(
            prepared.attributes,
            [Attribute::new(
                "network-http",
                "http://evil.example/gate.php"
            )]
        );
        assert!(prepared.adjusted.is_empty());
        assert!(prepared.empty.is_empty());
    }

    #[test]
    fn prepare_escapes_nul() {
        let prepared = prepare_one("a\0b\0", 4096);
        assert_eq!(prepared.attributes[0].value, "a\\x00b\\x00");
        assert_eq!(prepared.adjusted.len(), 1);
        assert_eq!(prepared.adjusted[0].original, "a\0b\0");
        assert_eq!(
            prepared.adjusted[0].changes,
            [Change::NulEscaped { count: 2 }]
        );
    }

    #[test]
    fn prepare_truncates_at_char_boundary() {
        // "é" is two bytes, so a cut at 4 bytes would split the second one.
        let prepared = prepare_one("aéé", 4);
        assert_eq!(prepared.attributes[0].value, "aé");
        assert_eq!(
            prepared.adjusted[0].changes,
            [Change::Truncated { original_len: 5 }]
        );
    }

    #[test]
    fn prepare_escapes_then_truncates() {
        let prepared = prepare_one("ab\0cd", 5);
        assert_eq!(prepared.attributes[0].value, "ab\\x0");
        assert_eq!(
            prepared.adjusted[0].changes,
            [
                Change::NulEscaped { count: 1 },
                Change::Truncated { original_len: 8 }
            ]
        );
    }

    #[test]
    fn prepare_sets_empty_values_aside() {
        let prepared = prepare_one("", 4096);
        assert!(prepared.attributes.is_empty());
        assert_eq!(prepared.empty, [Attribute::new("network-http", "")]);
    }

    #[test]
    fn prepare_merges_values_equal_after_truncation() {
        let values = [
            Attribute::new("network-http", "http://a.example/1"),
            Attribute::new("network-http", "http://a.example/2"),
        ];
        let prepared = prepare(values, &ValueRules { max_len: 16 }).unwrap();
        assert_eq!(
            prepared.attributes,
            [Attribute::new("network-http", "http://a.example")]
        );
        assert_eq!(prepared.adjusted.len(), 2);
    }

    #[test]
    fn prepare_normalizes_keys() {
        let prepared = prepare(
            [Attribute::new(" Network-DNS ", "a.example")],
            &ValueRules::default(),
        )
        .unwrap();
        assert_eq!(prepared.attributes[0].key, "network-dns");
    }

    #[test]
    fn prepare_rejects_invalid_keys() {
        for key in ["", "network dns", "network.dns", &"k".repeat(33)] {
            let result = prepare([Attribute::new(key, "x")], &ValueRules::default());
            assert!(
                matches!(result, Err(MwdbError::InvalidKey { .. })),
                "{key:?} was accepted"
            );
        }
    }
}
