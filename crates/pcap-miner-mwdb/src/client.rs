//! Blocking client for the parts of the MWDB REST API that a push uses.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::is_retryable_status;
use crate::{Attribute, MwdbError, RetryEvent, RetryPolicy, Sha256};

/// Largest response body read, in bytes. MWDB returns every attribute of a
/// sample with each add, which stays far below this for indicator lists.
const MAX_RESPONSE_LEN: u64 = 64 * 1024 * 1024;

/// The `message` MWDB 2.20 sends with 404 for a sample that does not exist or is not shared with the caller.
const OBJECT_NOT_FOUND: &str = "Object not found";

/// Part of the 404 message for an undeclared key or a key the caller may not set.
const KEY_NOT_SETTABLE: &str = "insufficient permissions to set";

/// Part of Flask's 404 message for a path that no route matches.
const NO_SUCH_ENDPOINT: &str = "requested URL was not found";

/// Settings of a [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    /// Time limit of one attempt, from connecting to reading the whole response.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// An attribute as MWDB stores it; `value` is any JSON value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredAttribute {
    #[serde(default)]
    pub id: u64,
    pub key: String,
    pub value: serde_json::Value,
}

impl StoredAttribute {
    /// Returns true for the same key with the same string value.
    pub fn matches(&self, attribute: &Attribute) -> bool {
        self.key == attribute.key && self.value.as_str() == Some(attribute.value.as_str())
    }
}

/// Whether `--upload` had to send the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    AlreadyPresent,
    Uploaded,
}

type RetryListener = Box<dyn Fn(&RetryEvent<'_>) + Send + Sync>;

/// Client of one MWDB server, authenticated with an API key.
pub struct Client {
    agent: ureq::Agent,
    api_url: String,
    api_key: String,
    retry: RetryPolicy,
    on_retry: Option<RetryListener>,
}

impl fmt::Debug for Client {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The API key is a secret and stays out of logs.
        formatter
            .debug_struct("Client")
            .field("api_url", &self.api_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

enum Body {
    Empty,
    Json(Vec<u8>),
    Multipart {
        content_type: String,
        bytes: Vec<u8>,
    },
}

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Client {
    /// Creates a client for the API at `api_url`, such as `https://mwdb.example/api/`.
    ///
    /// A missing trailing `/` is added. Nothing is sent until a method is called.
    pub fn new(api_url: &str, api_key: &str, options: ClientOptions) -> Result<Self, MwdbError> {
        let api_url = normalize_api_url(api_url)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.request_timeout))
            .user_agent(format!("pcap-miner-mwdb/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            api_url,
            api_key: api_key.trim().to_string(),
            retry: options.retry,
            on_retry: None,
        })
    }

    /// Calls `listener` before each wait for a retry, for example to tell a person why the push pauses.
    pub fn with_retry_listener(
        mut self,
        listener: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.on_retry = Some(Box::new(listener));
        self
    }

    /// Returns the API URL, ending with `/`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Lists the attribute keys this API key may set (`GET attribute?access=set`).
    pub fn settable_keys(&self) -> Result<BTreeSet<String>, MwdbError> {
        #[derive(Deserialize)]
        struct Definitions {
            attribute_definitions: Vec<Definition>,
        }
        #[derive(Deserialize)]
        struct Definition {
            key: String,
        }

        let url = self.url("attribute?access=set");
        let reply = self.send(Method::Get, &url, &Body::Empty)?;
        let reply = self.check_status(Method::Get, &url, reply, None)?;
        let definitions: Definitions = parse_json(Method::Get, &url, &reply)?;
        Ok(definitions
            .attribute_definitions
            .into_iter()
            .map(|definition| definition.key)
            .collect())
    }

    /// Reads the attributes of a sample that this API key may read.
    pub fn attributes(&self, sample: &Sha256) -> Result<Vec<StoredAttribute>, MwdbError> {
        let url = self.url(&format!("object/{sample}/attribute"));
        let reply = self.send(Method::Get, &url, &Body::Empty)?;
        let reply = self.check_status(Method::Get, &url, reply, Some(sample))?;
        read_attribute_list(Method::Get, &url, &reply)
    }

    /// Adds one value to a sample and returns all attributes of the sample that the key may read.
    ///
    /// Adding a value that is already stored succeeds and stores nothing new.
    pub fn add_attribute(
        &self,
        sample: &Sha256,
        attribute: &Attribute,
    ) -> Result<Vec<StoredAttribute>, MwdbError> {
        let url = self.url(&format!("object/{sample}/attribute"));
        let body = serde_json::json!({ "key": attribute.key, "value": attribute.value });
        let reply = self.send(
            Method::Post,
            &url,
            &Body::Json(body.to_string().into_bytes()),
        )?;
        if reply.status == 404 && error_message(&reply.body).contains(KEY_NOT_SETTABLE) {
            return Err(MwdbError::KeyNotSettable {
                key: attribute.key.clone(),
                api_url: self.api_url.clone(),
            });
        }
        let reply = self.check_status(Method::Post, &url, reply, Some(sample))?;
        read_attribute_list(Method::Post, &url, &reply)
    }

    /// Returns whether MWDB has the sample as a file that this API key can read.
    pub fn sample_exists(&self, sample: &Sha256) -> Result<bool, MwdbError> {
        let url = self.url(&format!("file/{sample}"));
        let reply = self.send(Method::Get, &url, &Body::Empty)?;
        if reply.status == 404 && error_message(&reply.body) == OBJECT_NOT_FOUND {
            return Ok(false);
        }
        self.check_status(Method::Get, &url, reply, None)?;
        Ok(true)
    }

    /// Uploads the file at `path` as sample `expected` unless MWDB already has it.
    ///
    /// The file's digest is checked before anything is sent, and the digest
    /// MWDB returns is checked after the upload.
    pub fn upload_sample(&self, path: &Path, expected: &Sha256) -> Result<Upload, MwdbError> {
        // NOTE: the whole file is held in memory (twice, with the multipart copy) while it uploads.
        let content = std::fs::read(path).map_err(|source| MwdbError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let actual = Sha256::of_bytes(&content);
        if &actual != expected {
            return Err(MwdbError::Sha256Mismatch {
                path: path.to_path_buf(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        if self.sample_exists(expected)? {
            return Ok(Upload::AlreadyPresent);
        }

        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| expected.to_string());
        let url = self.url("file");
        let body = multipart_file(&file_name, &content, expected);
        let reply = self.send(Method::Post, &url, &body)?;
        let reply = self.check_status(Method::Post, &url, reply, None)?;

        #[derive(Deserialize)]
        struct File {
            sha256: String,
        }
        let stored: File = parse_json(Method::Post, &url, &reply)?;
        if !stored.sha256.eq_ignore_ascii_case(expected.as_str()) {
            return Err(MwdbError::InvalidResponse {
                method: Method::Post.as_str(),
                url,
                message: format!(
                    "the stored file has sha256 {}, not {expected}",
                    stored.sha256
                ),
            });
        }
        tracing::debug!(sample = %expected, file = %path.display(), "uploaded sample to MWDB");
        Ok(Upload::Uploaded)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    /// Sends a request, retrying as the policy allows; any HTTP status other than a retryable one is returned.
    fn send(&self, method: Method, url: &str, body: &Body) -> Result<Reply, MwdbError> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let error = match self.send_once(method, url, body) {
                Ok(reply) if !is_retryable_status(reply.status) => return Ok(reply),
                Ok(reply) => status_error(method, url, &reply),
                Err(error) if error.is_retryable() => error,
                Err(error) => return Err(error),
            };

            let Some(delay) = self.retry.next_delay(attempt, started.elapsed()) else {
                return Err(MwdbError::GaveUp {
                    method: method.as_str(),
                    url: url.to_string(),
                    attempts: attempt,
                    elapsed: started.elapsed(),
                    last: Box::new(error),
                });
            };

            tracing::warn!(
                method = method.as_str(),
                url,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "MWDB request failed; retrying"
            );
            if let Some(listener) = &self.on_retry {
                listener(&RetryEvent {
                    method: method.as_str(),
                    url,
                    attempt,
                    delay,
                    error: &error,
                });
            }
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    fn send_once(&self, method: Method, url: &str, body: &Body) -> Result<Reply, MwdbError> {
        tracing::debug!(method = method.as_str(), url, "MWDB request");
        let authorization = format!("Bearer {}", self.api_key);
        let result = match (method, body) {
            (Method::Get, _) => self
                .agent
                .get(url)
                .header("Authorization", &authorization)
                .call(),
            (Method::Post, Body::Empty) => self
                .agent
                .post(url)
                .header("Authorization", &authorization)
                .send_empty(),
            (Method::Post, Body::Json(bytes)) => self
                .agent
                .post(url)
                .header("Authorization", &authorization)
                .header("Content-Type", "application/json")
                .send(bytes.as_slice()),
            (
                Method::Post,
                Body::Multipart {
                    content_type,
                    bytes,
                },
            ) => self
                .agent
                .post(url)
                .header("Authorization", &authorization)
                .header("Content-Type", content_type)
                .send(bytes.as_slice()),
        };

        let transport_error = |source: ureq::Error| MwdbError::Transport {
            method: method.as_str(),
            url: url.to_string(),
            retryable: is_retryable_transport(&source),
            source: Box::new(source),
        };
        let mut response = result.map_err(transport_error)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_LEN)
            .read_to_vec()
            .map_err(transport_error)?;
        tracing::debug!(method = method.as_str(), url, status, "MWDB response");
        Ok(Reply { status, body })
    }

    /// Turns an HTTP error status into the matching error.
    fn check_status(
        &self,
        method: Method,
        url: &str,
        reply: Reply,
        sample: Option<&Sha256>,
    ) -> Result<Reply, MwdbError> {
        match reply.status {
            200..=299 => Ok(reply),
            401 => Err(MwdbError::Unauthenticated {
                api_url: self.api_url.clone(),
            }),
            404 => {
                let message = error_message(&reply.body);
                match sample {
                    Some(sample) if message == OBJECT_NOT_FOUND => Err(MwdbError::SampleNotFound {
                        sha256: sample.to_string(),
                        api_url: self.api_url.clone(),
                    }),
                    _ if message.contains(NO_SUCH_ENDPOINT) => Err(MwdbError::EndpointNotFound {
                        url: url.to_string(),
                    }),
                    _ => Err(status_error(method, url, &reply)),
                }
            }
            _ => Err(status_error(method, url, &reply)),
        }
    }
}

/// Checks the scheme and adds the trailing `/` that relative paths need.
fn normalize_api_url(api_url: &str) -> Result<String, MwdbError> {
    let trimmed = api_url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let host_start = ["http://", "https://"]
        .iter()
        .find(|scheme| lower.starts_with(*scheme))
        .map(|scheme| scheme.len());
    let valid = host_start.is_some_and(|start| {
        let rest = &trimmed[start..];
        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
    });
    if !valid {
        return Err(MwdbError::InvalidApiUrl {
            url: api_url.to_string(),
        });
    }
    let mut normalized = trimmed.to_string();
    if !normalized.ends_with('/') {
        normalized.push('/');
    }
    Ok(normalized)
}

/// Refused connections, resets and timeouts may pass; DNS, TLS and URL errors will not.
fn is_retryable_transport(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
    )
}

fn status_error(method: Method, url: &str, reply: &Reply) -> MwdbError {
    MwdbError::Status {
        method: method.as_str(),
        url: url.to_string(),
        status: reply.status,
        message: error_message(&reply.body),
    }
}

/// Returns the `message` of an MWDB error body, or the start of a body that is not MWDB's JSON.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        return parsed.message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None if text.is_empty() => "(empty body)".to_string(),
        None => text.to_string(),
    }
}

fn parse_json<T: DeserializeOwned>(
    method: Method,
    url: &str,
    reply: &Reply,
) -> Result<T, MwdbError> {
    serde_json::from_slice(&reply.body).map_err(|error| MwdbError::InvalidResponse {
        method: method.as_str(),
        url: url.to_string(),
        message: error.to_string(),
    })
}

fn read_attribute_list(
    method: Method,
    url: &str,
    reply: &Reply,
) -> Result<Vec<StoredAttribute>, MwdbError> {
    #[derive(Deserialize)]
    struct AttributeList {
        attributes: Vec<StoredAttribute>,
    }
    let list: AttributeList = parse_json(method, url, reply)?;
    Ok(list.attributes)
}

/// Builds a `multipart/form-data` body with the file in field `file`, as `POST /api/file` expects.
fn multipart_file(file_name: &str, content: &[u8], sha256: &Sha256) -> Body {
    // A boundary must not occur in the content. One built from the content's
    // own digest practically never does, and the loop makes sure.
    let mut boundary = format!("pcap-miner-{sha256}");
    let mut attempt = 0u32;
    while contains(content, boundary.as_bytes()) {
        attempt += 1;
        boundary = format!("pcap-miner-{sha256}-{attempt}");
    }

    let safe_name: String = file_name
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut bytes = Vec::with_capacity(content.len() + 256);
    bytes.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    bytes.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n")
            .as_bytes(),
    );
    bytes.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
    bytes.extend_from_slice(content);
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    Body::Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        bytes,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_gets_trailing_slash() {
        assert_eq!(
            normalize_api_url("http://127.0.0.1:8080/api").unwrap(),
            "http://127.0.0.1:8080/api/"
        );
        assert_eq!(
            normalize_api_url(" https://mwdb.example/api/ ").unwrap(),
            "https://mwdb.example/api/"
        );
    }

    #[test]
    fn api_url_rejects_bad_input() {
        for url in [
            "",
            "mwdb.example/api/",
            "ftp://mwdb.example/",
            "http://",
            "http:///api/",
            "http://a b/",
        ] {
            assert!(normalize_api_url(url).is_err(), "{url:?} was accepted");
        }
    }

    #[test]
    fn error_message_reads_mwdb_json() {
        assert_eq!(
            error_message(br#"{"message": "Object not found"}"#),
            "Object not found"
        );
        assert_eq!(
            error_message(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_message(b""), "(empty body)");
        assert_eq!(error_message(&[b'x'; 300]).len(), 203);
    }

    #[test]
    fn multipart_boundary_avoids_content() {
        let sha256 = Sha256::of_bytes(b"x");
        let content = format!("--pcap-miner-{sha256}\r\n").into_bytes();
        let Body::Multipart {
            content_type,
            bytes,
        } = multipart_file("a\"b.exe", &content, &sha256)
        else {
            panic!("not a multipart body");
        };
        assert!(content_type.ends_with(&format!("pcap-miner-{sha256}-1")));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("filename=\"a_b.exe\""), "{text}");
        assert!(
            text.ends_with(&format!("\r\n--pcap-miner-{sha256}-1--\r\n")),
            "{text}"
        );
    }
}
