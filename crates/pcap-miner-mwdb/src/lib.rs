//! Adds network indicators to a sample in MWDB as attributes.
//!
//! This crate is the MWDB side of `pcap-miner push`: it takes `(key, value)`
//! pairs such as `("network-dns", "evil.example")` and stores each one on a
//! sample of an MWDB Core server (tested against 2.20) through its REST API.
//! It does what an analyst expects of a re-runnable upload:
//!
//! - it reads the sample's attributes once and sends only values that are not
//!   there yet, so a second push sends nothing;
//! - before sending anything it checks which keys the API key may set
//!   (`GET /api/attribute?access=set`). MWDB returns the same 404 for an undeclared
//!   key and for a missing permission, so this check is the only way to
//!   name the keys to fix, and it fails once for all of them;
//! - it retries connection errors and HTTP 429, 502, 503 and 504 with capped
//!   exponential backoff until a deadline ([`RetryPolicy`]). MWDB 2.20 sends
//!   no `Retry-After` with 429, so the backoff alone sets the pace;
//! - a value counts as sent only when MWDB confirmed it with 200. Everything
//!   else is listed in [`PushOutcome::not_sent`], so a re-run sends exactly
//!   those. Re-sending a stored value is harmless because MWDB keeps one row
//!   per (object, key, value) and returns 200 for a duplicate;
//! - it changes values that MWDB would reject or break ([`prepare`]): a NUL
//!   character makes MWDB 2.20 fail with 500 (PostgreSQL's JSONB cannot store
//!   it), so each NUL is written as the four characters `\x00`. A value longer
//!   than [`ValueRules::max_len`] bytes is cut to that length. Every change is
//!   reported in [`PreparedValues::adjusted`].
//!
//! # Why ureq
//!
//! The client is [`ureq`] 3: a small blocking HTTP client with rustls for
//! `https://` servers. Pushing is a short sequence of requests that each
//! depend on the previous response, so an async runtime (as reqwest's blocking
//! client starts internally) would add threads and build time for nothing.
//!
//! # Example
//!
//! ```no_run
//! use pcap_miner_mwdb::{plan_push, prepare, push, Attribute, Client, ClientOptions, Sha256, ValueRules};
//!
//! # fn main() -> Result<(), pcap_miner_mwdb::MwdbError> {
//! let client = Client::new("https://mwdb.example/api/", "API-KEY", ClientOptions::default())?;
//! let sample = Sha256::parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")?;
//! let values = vec![Attribute::new("network-dns", "evil.example")];
//! let prepared = prepare(values, &ValueRules::default())?;
//! let plan = plan_push(&client, &sample, prepared.attributes)?;
//! let outcome = push(&client, &plan, &mut |_event| {});
//! for attribute in &outcome.not_sent {
//!     eprintln!("not sent: {} {}", attribute.key, attribute.value);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The crate logs nothing by itself. It emits `tracing` events (requests at
//! debug level, retries at warn level), and [`Client::with_retry_listener`]
//! lets a program show retries as they happen.

#![forbid(unsafe_code)]

mod client;
mod error;
mod push;
mod retry;
mod sha256;
mod values;

pub use client::{Client, ClientOptions, StoredAttribute, Upload};
pub use error::MwdbError;
pub use push::{check_keys, plan_push, push, PushEvent, PushOutcome, PushPlan, ValueError};
pub use retry::{RetryEvent, RetryPolicy};
pub use sha256::Sha256;
pub use values::{
    prepare, Adjustment, Attribute, Change, PreparedValues, ValueRules, DEFAULT_MAX_VALUE_LEN,
};
