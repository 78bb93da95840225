//! A push: find which values are new on the sample, then send them one at a time.

use std::collections::{BTreeSet, HashSet};

use crate::{Attribute, Client, MwdbError, Sha256, StoredAttribute};

/// The values a push will send and those already stored, from the sample's current attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPlan {
    pub sample: Sha256,
    /// Values that the sample does not have yet, in the order given.
    pub to_send: Vec<Attribute>,
    /// Values that the sample already has.
    pub present: Vec<Attribute>,
}

/// Progress of [`push`], reported once per value in [`PushPlan::to_send`].
#[derive(Debug)]
pub enum PushEvent<'a> {
    /// MWDB confirmed the value.
    Sent(&'a Attribute),
    /// An earlier response listed the value as stored, so it was not sent again.
    AlreadyPresent(&'a Attribute),
    /// The value was not stored.
    Failed(&'a Attribute, &'a MwdbError),
}

/// A value that MWDB rejected, with the error.
#[derive(Debug)]
pub struct ValueError {
    pub attribute: Attribute,
    pub error: MwdbError,
}

/// The result of [`push`]: every value of the plan is in exactly one of
/// `sent`, `found_present` and `not_sent`.
#[derive(Debug, Default)]
pub struct PushOutcome {
    /// Values that MWDB confirmed with 200.
    pub sent: Vec<Attribute>,
    /// Values that appeared on the sample during the push, stored by another client.
    pub found_present: Vec<Attribute>,
    /// Values without confirmation: rejected, or never tried because the push stopped.
    pub not_sent: Vec<Attribute>,
    /// The errors of values that MWDB rejected one by one; each value is also in `not_sent`.
    pub value_errors: Vec<ValueError>,
    /// The error that stopped the push early (server unreachable, API key rejected, sample gone).
    pub stopped: Option<MwdbError>,
}

impl PushOutcome {
    /// Returns true when every value of the plan is now stored.
    pub fn is_complete(&self) -> bool {
        self.not_sent.is_empty()
    }
}

/// Reads the sample's attributes and checks that the API key may set every key that has new values.
///
/// Fails with [`MwdbError::SampleNotFound`] for an unknown sample and with
/// [`MwdbError::KeysNotSettable`] naming every key that cannot be set. In both
/// cases nothing was sent. `attributes` should come from [`crate::prepare`].
pub fn plan_push(
    client: &Client,
    sample: &Sha256,
    attributes: Vec<Attribute>,
) -> Result<PushPlan, MwdbError> {
    let stored = client.attributes(sample)?;
    let stored = string_values(&stored);
    let (present, to_send): (Vec<Attribute>, Vec<Attribute>) =
        attributes.into_iter().partition(|attribute| {
            stored.contains(&(attribute.key.as_str(), attribute.value.as_str()))
        });

    check_keys(client, &to_send)?;

    tracing::debug!(
        sample = %sample,
        to_send = to_send.len(),
        present = present.len(),
        "planned MWDB push"
    );
    Ok(PushPlan {
        sample: sample.clone(),
        to_send,
        present,
    })
}

/// Checks that the API key may set every key of `attributes`.
///
/// Fails with [`MwdbError::KeysNotSettable`] naming all keys that it may not
/// set. Sends nothing when `attributes` is empty.
pub fn check_keys(client: &Client, attributes: &[Attribute]) -> Result<(), MwdbError> {
    let keys: BTreeSet<&str> = attributes
        .iter()
        .map(|attribute| attribute.key.as_str())
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let settable = client.settable_keys()?;
    let missing: Vec<String> = keys
        .into_iter()
        .filter(|key| !settable.contains(*key))
        .map(str::to_string)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(MwdbError::KeysNotSettable {
        keys: missing,
        api_url: client.api_url().to_string(),
    })
}

/// Sends the plan's values one at a time and reports each through `on_event`.
///
/// A value that MWDB rejects on its own (400, 500) is recorded and the push
/// goes on. An error that concerns the server or the sample (no response within
/// the retry deadline, 401, sample not found) stops the push, and every value
/// not yet confirmed goes to [`PushOutcome::not_sent`].
pub fn push(
    client: &Client,
    plan: &PushPlan,
    on_event: &mut dyn FnMut(PushEvent<'_>),
) -> PushOutcome {
    let mut outcome = PushOutcome::default();
    // Each response lists the sample's attributes, so values another client added meanwhile are skipped.
    let mut stored_now: HashSet<(String, String)> = HashSet::new();
    let mut remaining = plan.to_send.iter();

    for attribute in remaining.by_ref() {
        if stored_now.contains(&(attribute.key.clone(), attribute.value.clone())) {
            on_event(PushEvent::AlreadyPresent(attribute));
            outcome.found_present.push(attribute.clone());
            continue;
        }

        match client.add_attribute(&plan.sample, attribute) {
            Ok(stored) => {
                stored_now.extend(
                    string_values(&stored)
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), value.to_string())),
                );
                tracing::debug!(sample = %plan.sample, key = %attribute.key, value = %attribute.value, "MWDB stored value");
                on_event(PushEvent::Sent(attribute));
                outcome.sent.push(attribute.clone());
            }
            Err(error) => {
                tracing::warn!(sample = %plan.sample, key = %attribute.key, value = %attribute.value, error = %error, "MWDB did not store value");
                on_event(PushEvent::Failed(attribute, &error));
                outcome.not_sent.push(attribute.clone());
                if error.stops_push() {
                    outcome.stopped = Some(error);
                    break;
                }
                outcome.value_errors.push(ValueError {
                    attribute: attribute.clone(),
                    error,
                });
            }
        }
    }

    outcome.not_sent.extend(remaining.cloned());
    outcome
}

fn string_values(stored: &[StoredAttribute]) -> HashSet<(&str, &str)> {
    stored
        .iter()
        .filter_map(|attribute| Some((attribute.key.as_str(), attribute.value.as_str()?)))
        .collect()
}
