//! Configuration: the `[pcap-miner]` INI section of the original Karton
//! service, the ignore list, and the memory limits of each layer.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use ipnetwork::IpNetwork;

use crate::app::StreamLimits;
use crate::decode::DefragLimits;
use crate::flow::FlowLimits;
use crate::indicators::{IndicatorKind, IndicatorSets};
use crate::keylog::KeyLog;

/// Default `vm_ip_range` of the original service.
pub const DEFAULT_VM_IP_RANGE: &str = "10.0.0.0/8";

/// Default `max_results` of the original service.
pub const DEFAULT_MAX_RESULTS: usize = 24;

/// Default [`Config::chunk_len`]: large enough that the threads seldom wait
/// for each other, small enough that a chunk and its decoded segments stay in
/// a core's cache. On the 2-core machine of `benches/README.md`, 256 KiB beat
/// 64 KiB, 1 MiB and 4 MiB.
pub const DEFAULT_CHUNK_LEN: usize = 256 << 10;

/// A configuration value or file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Ini {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "invalid vm_ip_range entry {value:?}: {message} (expected a network such as 10.0.0.0/8)"
    )]
    VmIpRange { value: String, message: String },
    #[error("invalid max_results {value:?}: expected a whole number, or -1 for no limit")]
    MaxResults { value: String },
    #[error("invalid max_pcap_size {value:?}: expected a number of bytes")]
    MaxPcapSize { value: String },
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
    #[error("ignore list {path}: {message}")]
    IgnoreList { path: PathBuf, message: String },
}

/// Everything that changes what `mine` reports or how much memory it may use.
#[derive(Debug, Clone)]
pub struct Config {
    /// Networks of the sandbox VM; empty means unset, and then the TCP direction rule alone decides.
    pub vm_networks: Vec<IpNetwork>,
    /// A kind with more values than this (after the ignore list) is dropped whole; `None` is no limit.
    pub max_results: Option<usize>,
    /// Values left out of the report.
    pub ignore_list: IgnoreList,
    /// A capture larger than this many bytes is not mined; `None` is no limit.
    pub max_pcap_size: Option<u64>,
    /// TLS session secrets (DRAKVUF tlsmon.log or an NSS key log); sessions they cover are decrypted.
    pub key_log: Option<Arc<KeyLog>>,
    /// Threads that mine; 1 mines on the calling thread alone.
    pub threads: usize,
    /// Capture bytes a thread takes at a time when `threads` is above 1.
    pub chunk_len: usize,
    pub flow_limits: FlowLimits,
    pub defrag_limits: DefragLimits,
    pub stream_limits: StreamLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            vm_networks: parse_vm_ip_range(DEFAULT_VM_IP_RANGE).unwrap_or_default(),
            max_results: Some(DEFAULT_MAX_RESULTS),
            ignore_list: IgnoreList::default(),
            max_pcap_size: None,
            key_log: None,
            threads: 1,
            chunk_len: DEFAULT_CHUNK_LEN,
            flow_limits: FlowLimits::default(),
            defrag_limits: DefragLimits::default(),
            stream_limits: StreamLimits::default(),
        }
    }
}

/// Keys of the `[pcap-miner]` INI section that [`Config::from_ini_file`] reads.
pub const INI_KEYS: [&str; 4] = ["vm_ip_range", "max_results", "ignore_list", "max_pcap_size"];

impl Config {
    /// Reads the `[pcap-miner]` section of an INI file over the defaults.
    ///
    /// A relative `ignore_list` path is taken relative to the INI file's folder.
    pub fn from_ini_file(path: &Path) -> Result<Self, ConfigError> {
        let sections = read_ini(path)?;
        let mut config = Config::default();
        let Some(section) = sections.get("pcap-miner") else {
            return Ok(config);
        };
        if let Some(value) = section.get("vm_ip_range") {
            config.vm_networks = parse_vm_ip_range(value).map_err(|error| in_file(path, error))?;
        }
        if let Some(value) = section.get("max_results") {
            config.max_results = parse_max_results(value).map_err(|error| in_file(path, error))?;
        }
        if let Some(value) = section.get("max_pcap_size") {
            config.max_pcap_size =
                parse_max_pcap_size(value).map_err(|error| in_file(path, error))?;
        }
        if let Some(value) = section.get("ignore_list").filter(|v| !v.is_empty()) {
            let base = path.parent().unwrap_or(Path::new("."));
            config.ignore_list = IgnoreList::from_file(&base.join(value))?;
        }
        Ok(config)
    }

    /// Applies the ignore list and `max_results`; returns what was dropped whole.
    pub fn filter(&self, sets: &mut IndicatorSets) -> Vec<DroppedKind> {
        let mut dropped = Vec::new();
        for kind in IndicatorKind::ALL {
            sets.retain(kind, |value| !self.ignore_list.matches(kind, value));
            let count = sets.count(kind);
            if let Some(max) = self.max_results.filter(|&max| count > max) {
                sets.remove_kind(kind);
                dropped.push(DroppedKind {
                    kind,
                    count,
                    max_results: max,
                });
            }
        }
        dropped
    }
}

/// Names the INI file a bad value came from.
fn in_file(path: &Path, error: ConfigError) -> ConfigError {
    ConfigError::InFile {
        path: path.to_path_buf(),
        source: Box::new(error),
    }
}

/// A kind left out of the report because it had more values than `max_results`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedKind {
    pub kind: IndicatorKind,
    /// Values counted, at least `max_results + 1`: the miner stops storing a
    /// kind's new values once it is over the limit, so this is a lower bound.
    pub count: usize,
    pub max_results: usize,
}

/// Parses `vm_ip_range`: a comma-separated list of networks; empty means unset.
pub fn parse_vm_ip_range(value: &str) -> Result<Vec<IpNetwork>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNetwork>()
                .map_err(|error| ConfigError::VmIpRange {
                    value: entry.to_string(),
                    message: error.to_string(),
                })
        })
        .collect()
}

/// Parses `max_results`; `-1` means no limit.
pub fn parse_max_results(value: &str) -> Result<Option<usize>, ConfigError> {
    let value = value.trim();
    if value == "-1" {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| ConfigError::MaxResults {
            value: value.to_string(),
        })
}

/// Parses `max_pcap_size` in bytes; empty means no limit.
pub fn parse_max_pcap_size(value: &str) -> Result<Option<u64>, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| ConfigError::MaxPcapSize {
            value: value.to_string(),
        })
}

/// Values to leave out, per kind: exact values and glob patterns.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    kinds: BTreeMap<IndicatorKind, KindPatterns>,
}

#[derive(Debug, Clone, Default)]
struct KindPatterns {
    exact: HashSet<String>,
    globs: Option<GlobSet>,
}

impl IgnoreList {
    /// Reads a JSON object of lists keyed by attribute key, such as `{"network-dns": ["*.local"]}`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| ConfigError::IgnoreList {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the JSON text of an ignore list.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let parsed: BTreeMap<String, Vec<String>> =
            serde_json::from_str(text).map_err(|error| format!("invalid JSON: {error}"))?;
        let mut list = IgnoreList::default();
        for (key, entries) in parsed {
            let kind = IndicatorKind::from_key(&key).ok_or_else(|| {
                format!("unknown key {key:?}: expected network-http, network-tcp, network-sni or network-dns")
            })?;
            list.add(kind, entries);
        }
        Ok(list)
    }

    /// Adds entries for one kind; an entry that is not a valid glob still matches as an exact value.
    pub fn add(&mut self, kind: IndicatorKind, entries: impl IntoIterator<Item = String>) {
        let patterns = self.kinds.entry(kind).or_default();
        let mut builder = GlobSetBuilder::new();
        let mut any_glob = false;
        for entry in entries {
            if entry.contains(['*', '?', '[']) {
                if let Ok(glob) = Glob::new(&entry) {
                    builder.add(glob);
                    any_glob = true;
                }
            }
            patterns.exact.insert(entry);
        }
        if any_glob {
            patterns.globs = builder.build().ok();
        }
    }

    /// Returns true when `value` of `kind` is to be left out.
    pub fn matches(&self, kind: IndicatorKind, value: &str) -> bool {
        let Some(patterns) = self.kinds.get(&kind) else {
            return false;
        };
        patterns.exact.contains(value)
            || patterns
                .globs
                .as_ref()
                .is_some_and(|globs| globs.is_match(value))
    }
}

/// Reads an INI file as Python's configparser does for plain files:
/// `[section]`, `key = value` or `key: value`, `#` and `;` comment lines,
/// keys case-insensitive.
fn read_ini(path: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            current = Some(name.trim().to_string());
            sections.entry(name.trim().to_string()).or_default();
            continue;
        }
        let error = |message: &str| ConfigError::Ini {
            path: path.to_path_buf(),
            line: index + 1,
            message: message.to_string(),
        };
        let Some(section) = current.as_ref() else {
            return Err(error("a key appears before any [section] header"));
        };
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(error("expected `key = value`"));
        };
        let key = trimmed[..split].trim().to_ascii_lowercase();
        let value = trimmed[split + 1..].trim().to_string();
        sections
            .entry(section.clone())
            .or_default()
            .insert(key, value);
    }
    Ok(sections)
}

/// Reads one section of an INI file, keys lower-cased; `None` when the section is absent.
pub fn read_ini_section(
    path: &Path,
    section: &str,
) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    Ok(read_ini(path)?.remove(section))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_temp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pcap-miner-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn config_ini_section_read() {
        let ignore = write_temp("ignore.json", r#"{"network-dns": ["*.local", "wpad"]}"#);
        let ini = write_temp(
            "config.ini",
            "[karton]\nx = 1\n[pcap-miner]\nvm_ip_range = 192.168.0.0/16, 10.0.0.0/8\nmax_results: -1\nmax_pcap_size = 1000\nignore_list = ignore.json\n",
        );
        assert_eq!(ignore.parent(), ini.parent());
        let config = Config::from_ini_file(&ini).unwrap();
        assert_eq!(config.vm_networks.len(), 2);
        assert_eq!(config.max_results, None);
        assert_eq!(config.max_pcap_size, Some(1000));
        assert!(config
            .ignore_list
            .matches(IndicatorKind::Dns, "printer.local"));
        assert!(config.ignore_list.matches(IndicatorKind::Dns, "wpad"));
        assert!(!config
            .ignore_list
            .matches(IndicatorKind::Dns, "wpad.example"));
        assert!(!config.ignore_list.matches(IndicatorKind::Http, "wpad"));
    }

    #[test]
    fn config_empty_vm_ip_range_is_unset() {
        assert!(parse_vm_ip_range("").unwrap().is_empty());
        assert!(parse_vm_ip_range("10.0.0.0/33").is_err());
    }

    #[test]
    fn config_bad_max_results_rejected() {
        let error = parse_max_results("many").unwrap_err();
        assert!(error.to_string().contains("\"many\""), "{error}");
    }

    #[test]
    fn ignore_list_invalid_glob_matches_exactly() {
        let mut list = IgnoreList::default();
        list.add(IndicatorKind::Http, ["http://a/[".to_string()]);
        assert!(list.matches(IndicatorKind::Http, "http://a/["));
        assert!(!list.matches(IndicatorKind::Http, "http://a/b"));
    }

    #[test]
    fn ignore_list_unknown_key_rejected() {
        let error = IgnoreList::from_json(r#"{"network-foo": []}"#).unwrap_err();
        assert!(error.contains("network-foo"), "{error}");
    }

    #[test]
    fn filter_drops_kind_over_max_results() {
        let config = Config {
            max_results: Some(1),
            ..Config::default()
        };
        let mut sets = IndicatorSets::new();
        sets.insert(IndicatorKind::Dns, "a".into());
        sets.insert(IndicatorKind::Dns, "b".into());
        sets.insert(IndicatorKind::Tcp, "192.0.2.1:80".into());
        let dropped = config.filter(&mut sets);
        assert_eq!(
            dropped,
            vec![DroppedKind {
                kind: IndicatorKind::Dns,
                count: 2,
                max_results: 1
            }]
        );
        assert_eq!(sets.count(IndicatorKind::Dns), 0);
        assert_eq!(sets.count(IndicatorKind::Tcp), 1);
    }
}
