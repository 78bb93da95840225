//! `pcap_miner.Config`: the settings of the `[pcap-miner]` INI section.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pcap_miner::config::{
    parse_max_results, parse_vm_ip_range, DEFAULT_MAX_RESULTS, DEFAULT_VM_IP_RANGE,
};
use pcap_miner::keylog::{KeyLog, KeyLogError};
use pcap_miner::IgnoreList;
use pyo3::prelude::*;

use crate::errors::{config_error, os_error, ConfigError};

/// Settings for one or many mining runs, immutable once made.
#[pyclass(frozen, module = "pcap_miner")]
pub struct Config {
    settings: pcap_miner::Config,
    keylog: Option<PathBuf>,
    keylog_warnings: Vec<String>,
}

/// `vm_ip_range` as Python passes it: one comma-separated string or a list of networks.
#[derive(FromPyObject)]
enum VmIpRange {
    Text(String),
    List(Vec<String>),
}

/// `ignore_list` as Python passes it: a mapping of attribute key to entries, or a JSON file.
#[derive(FromPyObject)]
enum IgnoreListSource {
    Mapping(BTreeMap<String, Vec<String>>),
    Path(PathBuf),
}

#[pymethods]
impl Config {
    /// Builds the settings. Omitted ones take the original service's defaults.
    #[new]
    #[pyo3(signature = (
        *,
        vm_ip_range = Some(VmIpRange::Text(DEFAULT_VM_IP_RANGE.to_string())),
        max_results = Some(DEFAULT_MAX_RESULTS as i64),
        ignore_list = None,
        max_pcap_size = None,
        keylog = None,
    ))]
    fn new(
        vm_ip_range: Option<VmIpRange>,
        max_results: Option<i64>,
        ignore_list: Option<IgnoreListSource>,
        max_pcap_size: Option<u64>,
        keylog: Option<PathBuf>,
    ) -> PyResult<Self> {
        let vm_networks =
            parse_vm_ip_range(&vm_ip_range_text(vm_ip_range)).map_err(config_error)?;
        let mut settings = pcap_miner::Config {
            vm_networks,
            max_pcap_size,
            ..pcap_miner::Config::default()
        };

        // -1 and None both mean no limit, as `max_results = -1` does in the INI file.
        settings.max_results = match max_results {
            None => None,
            Some(value) => parse_max_results(&value.to_string()).map_err(config_error)?,
        };

        settings.ignore_list = match ignore_list {
            None => IgnoreList::default(),
            Some(source) => read_ignore_list(source)?,
        };

        let mut keylog_warnings = Vec::new();
        if let Some(path) = &keylog {
            let (key_log, warnings) = read_keylog(path)?;
            settings.key_log = Some(Arc::new(key_log));
            keylog_warnings = warnings;
        }
        Ok(Config {
            settings,
            keylog,
            keylog_warnings,
        })
    }

    /// Reads the `[pcap-miner]` section of an INI file, as the Karton service does.
    ///
    /// A relative `ignore_list` path is taken relative to the INI file's folder.
    #[staticmethod]
    fn from_ini(path: PathBuf) -> PyResult<Self> {
        let settings = pcap_miner::Config::from_ini_file(&path).map_err(config_error)?;
        Ok(Config {
            settings,
            keylog: None,
            keylog_warnings: Vec::new(),
        })
    }

    /// Networks of the sandbox VM, empty when unset.
    #[getter]
    fn vm_ip_range(&self) -> Vec<String> {
        self.settings
            .vm_networks
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Maximum values per kind, or None for no limit.
    #[getter]
    fn max_results(&self) -> Option<usize> {
        self.settings.max_results
    }

    /// Maximum capture size in bytes, or None for no limit.
    #[getter]
    fn max_pcap_size(&self) -> Option<u64> {
        self.settings.max_pcap_size
    }

    /// TLS key log file (NSS key log or DRAKVUF tlsmon.log), or None.
    #[getter]
    fn keylog(&self) -> Option<String> {
        self.keylog
            .as_ref()
            .map(|path| path.to_string_lossy().into_owned())
    }

    /// Key log lines skipped as unusable, written `line N: reason` (the first 100 only).
    #[getter]
    fn keylog_warnings(&self) -> Vec<String> {
        self.keylog_warnings.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Config(vm_ip_range={:?}, max_results={}, max_pcap_size={}, keylog={})",
            self.vm_ip_range().join(","),
            python_optional(self.settings.max_results),
            python_optional(self.settings.max_pcap_size),
            self.keylog()
                .map_or_else(|| "None".to_string(), |path| format!("{path:?}")),
        )
    }
}

/// Returns the settings of `config`, or the defaults when it is None.
pub fn settings_or_default<'a>(
    config: Option<&'a Bound<'_, Config>>,
) -> Cow<'a, pcap_miner::Config> {
    match config {
        Some(config) => Cow::Borrowed(&config.get().settings),
        None => Cow::Owned(pcap_miner::Config::default()),
    }
}

/// Reads a key log and returns it with the skipped lines, written `line N: reason`.
fn read_keylog(path: &Path) -> PyResult<(KeyLog, Vec<String>)> {
    let parsed = KeyLog::from_file(path).map_err(|error| match &error {
        KeyLogError::Read { source, .. } => os_error(source.kind(), error.to_string()),
        _ => ConfigError::new_err(error.to_string()),
    })?;
    let warnings = parsed.warnings.iter().map(ToString::to_string).collect();
    Ok((parsed.key_log, warnings))
}

/// Returns `vm_ip_range` in its INI form, where None becomes the empty (unset) range.
fn vm_ip_range_text(value: Option<VmIpRange>) -> String {
    match value {
        None => String::new(),
        Some(VmIpRange::Text(text)) => text,
        Some(VmIpRange::List(list)) => list.join(","),
    }
}

/// Builds the ignore list from a mapping (checked as the JSON file would be) or a file.
fn read_ignore_list(source: IgnoreListSource) -> PyResult<IgnoreList> {
    match source {
        IgnoreListSource::Path(path) => IgnoreList::from_file(&path).map_err(config_error),
        IgnoreListSource::Mapping(entries) => {
            let text = serde_json::to_string(&entries)
                .map_err(|error| ConfigError::new_err(format!("ignore list: {error}")))?;
            IgnoreList::from_json(&text)
                .map_err(|message| ConfigError::new_err(format!("ignore list: {message}")))
        }
    }
}

fn python_optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "None".to_string(), |value| value.to_string())
}
