//! Confirming rules with one more tshark run each. A rule that claims tshark
//! would report a value under other settings is kept only if that run reports it.

use std::collections::BTreeMap;
use std::path::Path;

use super::classify::KindComparison;
use super::rules::{Confirmation, Explanation, Verdict};
use super::tables::{self, RowLayout};
use super::tshark::{Query, Tshark, TsharkError};

/// Runs each distinct confirmation once; a rule whose run does not report the value no longer holds.
pub fn confirm(
    kinds: &mut [KindComparison],
    tshark: &Tshark,
    capture: &Path,
) -> Result<(), TsharkError> {
    let mut runs: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for explanation in pending(kinds) {
        if let Some(Confirmation { extra_arguments }) = &explanation.confirm {
            runs.entry(extra_arguments.clone()).or_default();
        }
    }
    for (extra, uris) in runs.iter_mut() {
        let output = tshark.run(capture, Query::Http, extra)?;
        let mut ignored = Vec::new();
        *uris = tables::parse_rows(&output.stdout, RowLayout::VALUES, "http", &mut ignored)
            .into_iter()
            .flat_map(|row| row.values)
            .collect();
    }

    for kind in kinds.iter_mut() {
        for difference in kind.only_tshark.iter_mut().chain(kind.only_ours.iter_mut()) {
            let Some(confirmation) = difference.explanation.confirm.take() else {
                continue;
            };
            let arguments = confirmation.extra_arguments.join(" ");
            let reported = runs
                .get(&confirmation.extra_arguments)
                .is_some_and(|uris| uris.contains(&difference.value));
            let explanation = &mut difference.explanation;
            if reported {
                explanation.evidence += &format!("; confirmed: tshark reports it with {arguments}");
            } else {
                *explanation = Explanation::unexplained(format!(
                    "{}; yet tshark does not report it even with {arguments}",
                    explanation.evidence
                ));
            }
        }
    }
    Ok(())
}

fn pending(kinds: &[KindComparison]) -> impl Iterator<Item = &Explanation> {
    kinds
        .iter()
        .flat_map(KindComparison::differences)
        .map(|difference| &difference.explanation)
        .filter(|explanation| explanation.rule.verdict == Verdict::Known)
}

/// Notes on rules that a tshark run would confirm that no run was made.
pub fn mark_unconfirmed(kinds: &mut [KindComparison]) {
    for kind in kinds.iter_mut() {
        for difference in kind.only_tshark.iter_mut().chain(kind.only_ours.iter_mut()) {
            if let Some(confirmation) = difference.explanation.confirm.take() {
                difference.explanation.evidence += &format!(
                    "; not confirmed with tshark {} (saved outputs only)",
                    confirmation.extra_arguments.join(" ")
                );
            }
        }
    }
}
