//! Retry, backoff and error mapping against a scripted HTTP server on 127.0.0.1.
//!
//! Each test starts a thread that accepts connections and responds to the
//! requests in order with scripted responses, recording what it received.

// Helpers outside `#[test]` functions may unwrap too: a panic fails the test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcap_miner_mwdb::{
    plan_push, push, Attribute, Client, ClientOptions, MwdbError, PushEvent, RetryPolicy, Sha256,
};

/// One step of the scripted server: what it does with one connection.
#[derive(Clone)]
enum Step {
    /// An HTTP response with this status and JSON body.
    Respond(u16, &'static str),
    /// Close the connection after reading the request, without a response.
    Hangup,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    authorization: Option<String>,
    body: String,
}

struct FakeServer {
    api_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a server that serves one connection per entry of `script`, then stops.
    fn start(script: Vec<Step>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let api_url = format!("http://{}/api/", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let thread = std::thread::spawn(move || {
            for step in script {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let request = read_request(&stream);
                log.lock().unwrap().push(request);
                respond(stream, &step);
            }
        });
        FakeServer {
            api_url,
            received,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // A test that failed early may leave the thread waiting in accept; it ends with the process.
        if std::thread::panicking() {
            return;
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn read_request(stream: &TcpStream) -> Received {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut authorization = None;
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value.trim().to_string()),
            "content-length" => content_length = value.trim().parse().unwrap(),
            _ => {}
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body).unwrap();
    Received {
        request_line: request_line.trim_end().to_string(),
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn respond(mut stream: TcpStream, step: &Step) {
    let Step::Respond(status, body) = step else {
        return;
    };
    let response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).unwrap();
}

const SAMPLE: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const STORED: &str = r#"{"attributes": [{"id": 1, "key": "network-dns", "value": "a.example"}]}"#;
const EMPTY_LIST: &str = r#"{"attributes": []}"#;
const BUSY: &str = r#"{"message": "Request limit: 3/10second for post was exceeded!"}"#;

fn fast_retry(deadline_ms: u64) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(80),
            deadline: Duration::from_millis(deadline_ms),
        },
        request_timeout: Duration::from_secs(5),
    }
}

fn sample() -> Sha256 {
    Sha256::parse(SAMPLE).unwrap()
}

fn dns(value: &str) -> Attribute {
    Attribute::new("network-dns", value)
}

#[test]
fn retry_429_and_503_then_success() {
    let server = FakeServer::start(vec![
        Step::Respond(429, BUSY),
        Step::Respond(503, r#"{"message": "Service Unavailable"}"#),
        Step::Respond(200, STORED),
    ]);
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    let client = Client::new(&server.api_url, "secret-key", fast_retry(5_000))
        .unwrap()
        .with_retry_listener(move |event| seen.lock().unwrap().push(event.attempt));

    let stored = client.add_attribute(&sample(), &dns("a.example")).unwrap();

    assert_eq!(stored.len(), 1);
    assert!(stored[0].matches(&dns("a.example")));
    assert_eq!(*attempts.lock().unwrap(), [1, 2]);
    let received = server.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(
            request.request_line,
            format!("POST /api/object/{SAMPLE}/attribute HTTP/1.1")
        );
        assert_eq!(request.authorization.as_deref(), Some("Bearer secret-key"));
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"key": "network-dns", "value": "a.example"})
        );
    }
}

#[test]
fn retry_502_504_and_hangup() {
    let server = FakeServer::start(vec![
        Step::Respond(502, "<html>Bad Gateway</html>"),
        Step::Hangup,
        Step::Respond(504, "<html>Gateway Timeout</html>"),
        Step::Respond(200, EMPTY_LIST),
    ]);
    let client = Client::new(&server.api_url, "k", fast_retry(5_000)).unwrap();

    let stored = client.attributes(&sample()).unwrap();

    assert!(stored.is_empty());
    assert_eq!(server.received().len(), 4);
}

#[test]
fn retry_gives_up_at_deadline() {
    let server = FakeServer::start(vec![Step::Respond(503, "{}"); 100]);
    let client = Client::new(&server.api_url, "k", fast_retry(300)).unwrap();

    let started = Instant::now();
    let error = client.attributes(&sample()).unwrap_err();
    let elapsed = started.elapsed();

    let MwdbError::GaveUp { attempts, last, .. } = &error else {
        panic!("expected GaveUp, got {error:?}");
    };
    assert!(*attempts >= 3, "only {attempts} attempts");
    assert!(
        matches!(**last, MwdbError::Status { status: 503, .. }),
        "{last:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(300),
        "gave up after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "gave up only after {elapsed:?}"
    );
    assert_eq!(server.received().len() as u32, *attempts);
    // Let the server thread finish its script.
    drop(client);
    finish_script(&server, 100);
}

/// Connects until the scripted server has served `total` connections, so its thread ends.
fn finish_script(server: &FakeServer, total: usize) {
    let address = server
        .api_url
        .trim_start_matches("http://")
        .trim_end_matches("/api/")
        .to_string();
    while server.received().len() < total {
        let mut stream = TcpStream::connect(&address).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

#[test]
fn retry_refused_connection() {
    // Bind and drop a listener to find a port on which nothing listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(
        &format!("http://127.0.0.1:{port}/api"),
        "k",
        fast_retry(200),
    )
    .unwrap();

    let error = client.settable_keys().unwrap_err();

    let MwdbError::GaveUp { attempts, last, .. } = &error else {
        panic!("expected GaveUp, got {error:?}");
    };
    assert!(*attempts >= 2, "only {attempts} attempts");
    assert!(
        matches!(
            **last,
            MwdbError::Transport {
                retryable: true,
                ..
            }
        ),
        "{last:?}"
    );
}

#[test]
fn no_retry_for_401() {
    let server = FakeServer::start(vec![Step::Respond(
        401,
        r#"{"message": "Not authenticated."}"#,
    )]);
    let client = Client::new(&server.api_url, "wrong", fast_retry(5_000)).unwrap();

    let error = client.attributes(&sample()).unwrap_err();

    assert!(
        matches!(error, MwdbError::Unauthenticated { .. }),
        "{error:?}"
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn no_retry_for_500() {
    let server = FakeServer::start(vec![Step::Respond(
        500,
        r#"{"message": "Internal server error"}"#,
    )]);
    let client = Client::new(&server.api_url, "k", fast_retry(5_000)).unwrap();

    let error = client
        .add_attribute(&sample(), &dns("a.example"))
        .unwrap_err();

    assert!(
        matches!(error, MwdbError::Status { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn unknown_sample_names_sha256() {
    let server = FakeServer::start(vec![Step::Respond(
        404,
        r#"{"message": "Object not found"}"#,
    )]);
    let client = Client::new(&server.api_url, "k", fast_retry(5_000)).unwrap();

    let error = client.attributes(&sample()).unwrap_err();

    assert!(
        matches!(error, MwdbError::SampleNotFound { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(SAMPLE), "{error}");
}

#[test]
fn wrong_api_path_is_explained() {
    let server = FakeServer::start(vec![Step::Respond(
        404,
        r#"{"message": "The requested URL was not found on the server."}"#,
    )]);
    let client = Client::new(&server.api_url, "k", fast_retry(5_000)).unwrap();

    let error = client.settable_keys().unwrap_err();

    assert!(
        matches!(error, MwdbError::EndpointNotFound { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("/api/"), "{error}");
}

#[test]
fn api_url_without_slash() {
    let server = FakeServer::start(vec![Step::Respond(200, r#"{"attribute_definitions": []}"#)]);
    let url = server.api_url.trim_end_matches('/').to_string();
    let client = Client::new(&url, "k", fast_retry(5_000)).unwrap();

    client.settable_keys().unwrap();

    assert_eq!(
        server.received()[0].request_line,
        "GET /api/attribute?access=set HTTP/1.1"
    );
}

#[test]
fn push_stops_and_lists_unsent() {
    let definitions = r#"{"attribute_definitions": [{"key": "network-dns"}]}"#;
    let mut script = vec![
        Step::Respond(200, EMPTY_LIST),
        Step::Respond(200, definitions),
        Step::Respond(
            200,
            r#"{"attributes": [{"id": 1, "key": "network-dns", "value": "a.example"}]}"#,
        ),
        Step::Respond(
            200,
            r#"{"attributes": [{"id": 2, "key": "network-dns", "value": "b.example"}]}"#,
        ),
    ];
    script.extend(vec![Step::Respond(503, "{}"); 100]);
    let server = FakeServer::start(script);
    let client = Client::new(&server.api_url, "k", fast_retry(200)).unwrap();
    let values: Vec<Attribute> = ["a.example", "b.example", "c.example", "d.example"]
        .into_iter()
        .map(dns)
        .collect();

    let plan = plan_push(&client, &sample(), values.clone()).unwrap();
    let mut events = Vec::new();
    let outcome = push(&client, &plan, &mut |event| {
        events.push(match event {
            PushEvent::Sent(attribute) => format!("sent {}", attribute.value),
            PushEvent::AlreadyPresent(attribute) => format!("present {}", attribute.value),
            PushEvent::Failed(attribute, _) => format!("failed {}", attribute.value),
        })
    });

    assert_eq!(outcome.sent, values[..2]);
    assert_eq!(outcome.not_sent, values[2..]);
    assert!(
        matches!(outcome.stopped, Some(MwdbError::GaveUp { .. })),
        "{:?}",
        outcome.stopped
    );
    assert!(!outcome.is_complete());
    assert_eq!(
        events,
        ["sent a.example", "sent b.example", "failed c.example"]
    );
    drop(client);
    finish_script(&server, 104);
}

#[test]
fn push_continues_after_value_error() {
    let script = vec![
        Step::Respond(500, r#"{"message": "Internal server error"}"#),
        Step::Respond(
            200,
            r#"{"attributes": [{"id": 2, "key": "network-dns", "value": "b.example"}, {"id": 3, "key": "network-dns", "value": "c.example"}]}"#,
        ),
    ];
    let server = FakeServer::start(script);
    let client = Client::new(&server.api_url, "k", fast_retry(200)).unwrap();
    let plan = pcap_miner_mwdb::PushPlan {
        sample: sample(),
        to_send: vec![dns("a.example"), dns("b.example"), dns("c.example")],
        present: Vec::new(),
    };

    let outcome = push(&client, &plan, &mut |_| {});

    assert_eq!(outcome.not_sent, [dns("a.example")]);
    assert_eq!(outcome.value_errors.len(), 1);
    assert_eq!(outcome.sent, [dns("b.example")]);
    // c.example came back in the response for b.example, stored by someone else, so it was not sent.
    assert_eq!(outcome.found_present, [dns("c.example")]);
    assert!(outcome.stopped.is_none());
    assert_eq!(server.received().len(), 2);
}
