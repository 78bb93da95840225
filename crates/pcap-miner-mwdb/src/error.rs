//! Errors of the MWDB client.

use std::path::PathBuf;
use std::time::Duration;

/// A failed MWDB request, or input that cannot be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MwdbError {
    #[error("invalid MWDB API URL {url:?}: expected an http:// or https:// URL such as https://mwdb.example/api/")]
    InvalidApiUrl { url: String },

    #[error("invalid sample sha256 {value:?}: expected 64 hexadecimal digits")]
    InvalidSha256 { value: String },

    #[error("invalid attribute key {key:?}: MWDB keys are 1 to 32 letters, digits, `_` or `-`")]
    InvalidKey { key: String },

    #[error(
        "MWDB at {api_url} rejected the API key (401 Not authenticated): check the key; \
         a key also stops working when the server's secret_key or base_url changes"
    )]
    Unauthenticated { api_url: String },

    #[error(
        "sample {sha256} not found in MWDB at {api_url}, or not shared with the API key's groups: \
         upload the sample first"
    )]
    SampleNotFound { sha256: String, api_url: String },

    /// The keys that the API key may not set; MWDB does not tell an undeclared key from a missing permission.
    #[error(
        "MWDB at {api_url} does not let this API key set the attribute keys {}, so nothing was sent. \
         Each key is either not declared or not settable by the key's groups. \
         An MWDB admin declares a key with POST {api_url}attribute \
         {{\"key\": \"KEY\", \"label\": \"KEY\", \"description\": \"...\", \"hidden\": false}} \
         and lets a group set it with PUT {api_url}attribute/KEY/permissions \
         {{\"group_name\": \"GROUP\", \"can_read\": true, \"can_set\": true}}, \
         or does both in the web UI under Settings, Attributes",
        keys.join(", ")
    )]
    KeysNotSettable { keys: Vec<String>, api_url: String },

    #[error(
        "MWDB at {api_url} rejected attribute key {key:?}: it is not declared, \
         or the API key's groups may not set it"
    )]
    KeyNotSettable { key: String, api_url: String },

    #[error("{url} does not exist on the server: check that the MWDB API URL ends with /api/")]
    EndpointNotFound { url: String },

    #[error("{method} {url} failed with HTTP {status}: {message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },

    /// No HTTP response: connection refused or reset, timeout, TLS or DNS failure.
    #[error("{method} {url} failed: {source}")]
    Transport {
        method: &'static str,
        url: String,
        /// Whether trying again may help (a refused connection or a timeout, not a TLS or DNS error).
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A retryable failure lasted past the retry deadline; `last` names the request.
    #[error(
        "gave up at the retry deadline ({attempts} attempt{} in {:.1} s): {last}",
        if *attempts == 1 { "" } else { "s" },
        elapsed.as_secs_f64()
    )]
    GaveUp {
        method: &'static str,
        url: String,
        attempts: u32,
        elapsed: Duration,
        last: Box<MwdbError>,
    },

    #[error("{method} {url} returned an unexpected body: {message}")]
    InvalidResponse {
        method: &'static str,
        url: String,
        message: String,
    },

    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} has sha256 {actual}, not the sample's {expected}")]
    Sha256Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

impl MwdbError {
    /// Returns true when trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            MwdbError::Transport { retryable, .. } => *retryable,
            MwdbError::Status { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    /// Returns true when the error concerns the whole server or sample rather than one value,
    /// so that sending further values is pointless.
    pub fn stops_push(&self) -> bool {
        match self {
            MwdbError::Status { status, .. } => matches!(status, 403 | 405) || *status >= 502,
            MwdbError::KeyNotSettable { .. } | MwdbError::InvalidResponse { .. } => false,
            _ => true,
        }
    }
}

/// Returns true for the statuses of an overloaded or restarting server:
/// 429 Too Many Requests, 502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}
