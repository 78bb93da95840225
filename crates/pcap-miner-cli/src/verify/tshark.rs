//! Running tshark: the four queries of karton-pcap-miner with frame numbers
//! added, and two more for evidence. One lists every TCP packet's ends and
//! SYN/ACK flags, the other every HTTP request's Host, target and method.
//!
//! Every run gets `LC_ALL=C.UTF-8` and an empty `WIRESHARK_CONFIG_DIR`, so a
//! user's profile (preferences, disabled protocols, heuristics) cannot change
//! the result. Heuristic dissectors keep tshark's defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use pcap_miner::keylog::{KeyLog, KeyLogFormat};

use super::tables::{RawOutputs, RowLayout, TcpSource};

/// Joins several occurrences of one field. tshark 4.0 takes `aggregator=/t`
/// literally (it joins with a backslash), so the tab byte itself is passed.
const AGGREGATOR: &str = "aggregator=\t";

/// Texts in tshark's error output that mean the capture is damaged or cut
/// short; tshark then exits with status 2 after printing what it read.
const DAMAGE_MESSAGES: [&str; 2] = [
    "appears to be damaged or corrupt",
    "cut short in the middle of a packet",
];

/// tshark prints this warning whenever it runs as root; it is not an error.
const ROOT_WARNING: &str = "Running as user \"root\"";

/// One tshark query over the whole capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `http.request.full_uri` of every frame.
    Http,
    /// Every HTTP request with its URI, Host, target, method and destination ports.
    HttpRequests,
    /// The `-z conv,tcp` table.
    ConvTcp,
    /// Server names and destination ports of every ClientHello.
    ClientHellos,
    /// Question names of every DNS query message.
    DnsQueries,
    /// Stream number, addresses, ports and SYN/ACK flags of every TCP packet
    /// that is not quoted inside ICMP or sFlow.
    TcpPackets,
}

impl Query {
    /// The queries whose output `verify` compares.
    pub const ALL: [Query; 6] = [
        Query::Http,
        Query::HttpRequests,
        Query::ConvTcp,
        Query::ClientHellos,
        Query::DnsQueries,
        Query::TcpPackets,
    ];

    /// Returns a short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Query::Http => "http",
            Query::HttpRequests => "http requests",
            Query::ConvTcp => "conv,tcp",
            Query::ClientHellos => "client hellos",
            Query::DnsQueries => "dns queries",
            Query::TcpPackets => "tcp packets",
        }
    }

    /// Returns the arguments after `-q -n -r CAPTURE`.
    pub fn arguments(self) -> Vec<&'static str> {
        match self {
            Query::Http => fields(&["frame.number", "http.request.full_uri"]),
            Query::HttpRequests => {
                // UPnP GENA requests are not `http.request` but have a URI.
                let mut arguments = vec!["-Y", "http.request.method || http.request.full_uri"];
                arguments.extend(fields(&[
                    "frame.number",
                    "http.request.full_uri",
                    "http.host",
                    "http.request.uri",
                    "http.request.method",
                    "tcp.dstport",
                    "udp.dstport",
                ]));
                arguments
            }
            Query::ConvTcp => vec!["-z", "conv,tcp"],
            Query::ClientHellos => {
                let mut arguments = vec!["-Y", "tls.handshake.type == 1"];
                arguments.extend(fields(&[
                    "frame.number",
                    "tls.handshake.extensions_server_name",
                    "tcp.dstport",
                    "udp.dstport",
                ]));
                arguments
            }
            Query::DnsQueries => {
                let mut arguments = vec!["-Y", "dns.flags.response == 0"];
                arguments.extend(fields(&["frame.number", "dns.qry.name"]));
                arguments
            }
            Query::TcpPackets => {
                // The last occurrence of each field belongs to the innermost
                // header of a tunnelled packet.
                let mut arguments = vec![
                    "-Y",
                    "tcp && !icmp && !icmpv6 && !sflow",
                    "-T",
                    "fields",
                    "-E",
                    "occurrence=l",
                ];
                for field in TCP_PACKET_FIELDS {
                    arguments.extend(["-e", field]);
                }
                arguments
            }
        }
    }
}

/// Columns of [`Query::TcpPackets`], in order.
pub const TCP_PACKET_FIELDS: [&str; 11] = [
    "tcp.stream",
    "frame.number",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags.syn",
    "tcp.flags.ack",
];

/// `-T fields` arguments printing every occurrence of each field, tab-joined.
fn fields(names: &[&'static str]) -> Vec<&'static str> {
    let mut arguments = vec!["-T", "fields", "-E", "occurrence=a", "-E", AGGREGATOR];
    for name in names {
        arguments.extend(["-e", *name]);
    }
    arguments
}

/// tshark could not be started, or failed for a reason other than a damaged capture.
#[derive(Debug)]
pub enum TsharkError {
    Start {
        program: PathBuf,
        source: std::io::Error,
    },
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    ConfigDir {
        path: PathBuf,
        source: std::io::Error,
    },
    KeyLog {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for TsharkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsharkError::Start { program, source } => write!(
                f,
                "cannot run {}: {source}; install tshark 4.x (Debian package `tshark`), \
                 pass its path with --tshark, or compare saved outputs with --reference DIR",
                program.display()
            ),
            TsharkError::Failed {
                command,
                status,
                stderr,
            } => {
                write!(f, "{command} failed ({status})")?;
                if !stderr.is_empty() {
                    write!(f, ":\n{stderr}")?;
                }
                Ok(())
            }
            TsharkError::ConfigDir { path, source } => write!(
                f,
                "cannot create the empty tshark configuration folder {}: {source}",
                path.display()
            ),
            TsharkError::KeyLog { path, source } => {
                write!(
                    f,
                    "cannot prepare the key log {} for tshark: {source}",
                    path.display()
                )
            }
        }
    }
}

/// The output of one query.
#[derive(Debug)]
pub struct QueryOutput {
    pub stdout: String,
    /// tshark's message when it stopped at damage in the capture.
    pub damage: Option<String>,
}

/// A tshark program with the settings every query shares.
pub struct Tshark {
    program: PathBuf,
    keylog: Option<PathBuf>,
    config_dir: EmptyDir,
}

impl Tshark {
    /// Prepares to run `program`, decrypting TLS with `keylog` when given.
    ///
    /// tshark reads only NSS key logs, so a DRAKVUF tlsmon log is converted
    /// into one in the temporary folder first.
    pub fn new(program: &Path, keylog: Option<&Path>) -> Result<Self, TsharkError> {
        let config_dir = EmptyDir::create()?;
        let keylog = match keylog {
            Some(path) => Some(nss_key_log(path, &config_dir.path)?),
            None => None,
        };
        Ok(Tshark {
            program: program.to_path_buf(),
            keylog,
            config_dir,
        })
    }

    /// Returns the first line of `tshark --version`, such as `TShark (Wireshark) 4.0.17 ...`.
    pub fn version(&self) -> Result<String, TsharkError> {
        let output = self.command(&["--version"])?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(self.failure(&["--version"], &output));
        }
        Ok(text.lines().next().unwrap_or_default().trim().to_string())
    }

    /// Runs one query over `capture`, with `extra` arguments (such as `-d`) before it.
    pub fn run(
        &self,
        capture: &Path,
        query: Query,
        extra: &[String],
    ) -> Result<QueryOutput, TsharkError> {
        let mut arguments: Vec<String> = vec!["-q".into(), "-n".into(), "-r".into()];
        arguments.push(capture.to_string_lossy().into_owned());
        if let Some(keylog) = &self.keylog {
            arguments.push("-o".into());
            arguments.push(format!("tls.keylog_file:{}", keylog.display()));
        }
        arguments.extend(extra.iter().cloned());
        arguments.extend(query.arguments().into_iter().map(String::from));

        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let output = self.command(&arguments)?;
        let stderr = clean_stderr(&output.stderr);
        let damage = if output.status.success() {
            None
        } else if DAMAGE_MESSAGES.iter().any(|text| stderr.contains(text)) {
            Some(stderr)
        } else {
            return Err(self.failure(&arguments, &output));
        };
        Ok(QueryOutput {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            damage,
        })
    }

    fn command(&self, arguments: &[&str]) -> Result<Output, TsharkError> {
        Command::new(&self.program)
            .args(arguments)
            .env("LC_ALL", "C.UTF-8")
            .env("WIRESHARK_CONFIG_DIR", &self.config_dir.path)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| TsharkError::Start {
                program: self.program.clone(),
                source,
            })
    }

    fn failure(&self, arguments: &[&str], output: &Output) -> TsharkError {
        TsharkError::Failed {
            command: format!("{} {}", self.program.display(), quote_all(arguments)),
            status: output.status.to_string(),
            stderr: clean_stderr(&output.stderr),
        }
    }
}

/// Runs the queries in parallel, and keeps tshark's damage messages.
pub fn run_queries(
    tshark: &Tshark,
    capture: &Path,
    damage: &mut Vec<String>,
) -> Result<RawOutputs, TsharkError> {
    let results: Vec<(Query, Result<QueryOutput, TsharkError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = Query::ALL
            .into_iter()
            .map(|query| (query, scope.spawn(move || tshark.run(capture, query, &[]))))
            .collect();
        handles
            .into_iter()
            .map(|(query, handle)| {
                let result = handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (query, result)
            })
            .collect()
    });

    let mut outputs = BTreeMap::new();
    let mut stopped_early = false;
    for (query, result) in results {
        let output = result?;
        if let Some(message) = output.damage {
            stopped_early = true;
            let message = format!("tshark stopped reading: {}", message.replace('\n', " "));
            if !damage.contains(&message) {
                damage.push(message);
            }
        }
        outputs.insert(query.name(), output.stdout);
    }
    let mut take = |query: Query| outputs.remove(query.name()).unwrap_or_default();
    Ok(RawOutputs {
        http: (take(Query::Http), RowLayout::VALUES),
        http_every_frame: true,
        http_requests: take(Query::HttpRequests),
        stopped_early,
        conv_tcp: take(Query::ConvTcp),
        client_hellos: take(Query::ClientHellos),
        dns: (take(Query::DnsQueries), RowLayout::VALUES),
        tcp: TcpSource::Packets(take(Query::TcpPackets)),
    })
}

/// Returns the path of an NSS key log with the secrets of `path`: `path`
/// itself, or a converted copy in `dir` when it is a DRAKVUF tlsmon log.
fn nss_key_log(path: &Path, dir: &Path) -> Result<PathBuf, TsharkError> {
    let read_error = |source| TsharkError::KeyLog {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read(path).map_err(read_error)?;
    let text = String::from_utf8_lossy(&text);
    if KeyLog::parse(&text).format != KeyLogFormat::Tlsmon {
        return Ok(path.to_path_buf());
    }
    let converted = dir.join("keylog-nss.txt");
    std::fs::write(&converted, tlsmon_to_nss(&text)).map_err(|source| TsharkError::KeyLog {
        path: converted.clone(),
        source,
    })?;
    Ok(converted)
}

/// Writes the secrets of a DRAKVUF tlsmon log as NSS key log lines. Lines
/// that the library's reader also skips (other plugins, missing fields) are
/// left out.
fn tlsmon_to_nss(text: &str) -> String {
    let mut nss = String::new();
    for line in text.lines() {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line.trim()) else {
            continue;
        };
        let field = |name: &str| object.get(name).and_then(serde_json::Value::as_str);
        if field("Plugin").is_some_and(|plugin| !plugin.eq_ignore_ascii_case("tlsmon")) {
            continue;
        }
        let Some(random) = field("client_random") else {
            continue;
        };
        let line = match (field("master_key"), field("label"), field("secret")) {
            (Some(master_key), _, _) => format!("CLIENT_RANDOM {random} {master_key}"),
            (None, Some(label), Some(secret)) => format!("{label} {random} {secret}"),
            _ => continue,
        };
        nss.push_str(&line);
        nss.push('\n');
    }
    nss
}

/// Returns tshark's error output without the warning it prints whenever it runs as root.
fn clean_stderr(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| !line.starts_with(ROOT_WARNING))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Quotes arguments that a shell would split, for messages.
fn quote_all(arguments: &[&str]) -> String {
    arguments
        .iter()
        .map(|argument| {
            let plain = !argument.is_empty()
                && argument
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/=+".contains(&b));
            if plain {
                (*argument).to_string()
            } else {
                format!(
                    "'{}'",
                    argument.replace('\t', "<TAB>").replace('\'', "'\\''")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A new empty folder, removed again when dropped.
struct EmptyDir {
    path: PathBuf,
}

impl EmptyDir {
    fn create() -> Result<Self, TsharkError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let name = format!("pcap-miner-verify-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).map_err(|source| TsharkError::ConfigDir {
            path: path.clone(),
            source,
        })?;
        Ok(EmptyDir { path })
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        // tshark may leave files here (a recent-files list); a leftover folder in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_queries_pass_tab_aggregator() {
        for query in [Query::Http, Query::ClientHellos, Query::DnsQueries] {
            let arguments = query.arguments();
            assert!(arguments.contains(&"aggregator=\t"), "{query:?}");
            assert!(arguments.contains(&"occurrence=a"), "{query:?}");
            let first_field = arguments.iter().position(|a| *a == "-e").unwrap();
            assert_eq!(arguments[first_field + 1], "frame.number", "{query:?}");
        }
    }

    #[test]
    fn tlsmon_lines_converted_to_nss() {
        let text = concat!(
            r#"{"Plugin": "tlsmon", "client_random": "aa", "master_key": "bb"}"#,
            "\n",
            r#"{"Plugin": "filetracer", "client_random": "cc", "master_key": "dd"}"#,
            "\n",
            r#"{"client_random": "ee", "label": "CLIENT_TRAFFIC_SECRET_0", "secret": "ff"}"#,
            "\nnot json\n",
        );
        assert_eq!(
            tlsmon_to_nss(text),
            "CLIENT_RANDOM aa bb\nCLIENT_TRAFFIC_SECRET_0 ee ff\n"
        );
    }

    #[test]
    fn stderr_root_warning_removed() {
        let stderr = b"Running as user \"root\" and group \"root\". This could be dangerous.\n\
                       tshark: The file \"x\" appears to be damaged or corrupt.\n";
        assert_eq!(
            clean_stderr(stderr),
            "tshark: The file \"x\" appears to be damaged or corrupt."
        );
    }

    #[test]
    fn quoted_arguments_show_tab() {
        assert_eq!(
            quote_all(&["-E", "aggregator=\t", "-Y", "a == 1"]),
            "-E 'aggregator=<TAB>' -Y 'a == 1'"
        );
    }
}
