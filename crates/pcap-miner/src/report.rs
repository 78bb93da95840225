//! Reporting: the Karton attributes JSON and a plain-text listing.

use serde_json::{Map, Value};

use crate::indicators::IndicatorSets;

/// Returns the Karton/MWDB attributes object: each kind with values, as a sorted list; empty kinds left out.
pub fn attributes_json(indicators: &IndicatorSets) -> Value {
    let mut object = Map::new();
    for kind in indicators.kinds() {
        let list = indicators
            .get(kind)
            .map(|value| Value::String(value.to_string()))
            .collect();
        object.insert(kind.key().to_string(), Value::Array(list));
    }
    Value::Object(object)
}

/// Writes one line per value, `kind<TAB>value`, kinds in key order.
pub fn text(indicators: &IndicatorSets) -> String {
    let mut out = String::new();
    for kind in indicators.kinds() {
        for value in indicators.get(kind) {
            out.push_str(kind.key());
            out.push('\t');
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::IndicatorKind;

    #[test]
    fn attributes_json_leaves_out_empty_kinds() {
        let mut sets = IndicatorSets::new();
        sets.insert(IndicatorKind::Dns, "b.example".into());
        sets.insert(IndicatorKind::Dns, "a.example".into());
        let json = attributes_json(&sets).to_string();
        assert_eq!(json, r#"{"network-dns":["a.example","b.example"]}"#);
    }
}
