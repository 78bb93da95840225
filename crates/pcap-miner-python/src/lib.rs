//! Python bindings of `pcap-miner`: the `pcap_miner` extension module.
//!
//! The module mines a capture file or an in-memory capture with a [`Config`]
//! and returns a [`Report`]. Mining runs with the GIL released, so other
//! Python threads keep running meanwhile. Errors become Python exceptions with
//! the library's messages:
//!
//! - a damaged or cut-off capture raises `CaptureDamagedError`, which carries
//!   the partial report mined before the damage;
//! - a capture larger than `max_pcap_size` raises `CaptureTooLargeError`;
//! - an invalid setting raises `ConfigError`;
//! - a file that cannot be opened raises the matching `OSError` subclass.
//!
//! The type stubs are in `python/pcap-miner/pcap_miner.pyi`.

#![forbid(unsafe_code)]

mod config;
mod errors;
mod report;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use pyo3::prelude::*;

pub use config::Config;
pub use errors::{CaptureDamagedError, CaptureTooLargeError, ConfigError, PcapMinerError};
pub use report::Report;

/// Mine network indicators from pcap and pcapng captures.
#[pymodule(name = "pcap_miner")]
mod pcap_miner_module {
    use pyo3::prelude::*;
    use pyo3::types::PyTuple;

    #[pymodule_export]
    use super::{
        mine_bytes, mine_path, CaptureDamagedError, CaptureTooLargeError, Config, ConfigError,
        PcapMinerError, Report,
    };

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        let py = module.py();
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        let keys = pcap_miner::IndicatorKind::ALL.map(pcap_miner::IndicatorKind::key);
        module.add("KINDS", PyTuple::new(py, keys)?)?;
        module.add(
            "DEFAULT_VM_IP_RANGE",
            pcap_miner::config::DEFAULT_VM_IP_RANGE,
        )?;
        module.add(
            "DEFAULT_MAX_RESULTS",
            pcap_miner::config::DEFAULT_MAX_RESULTS,
        )?;
        Ok(())
    }
}

/// Mine the capture file at `path`.
///
/// Raises `CaptureDamagedError` (with the partial report) when the file is
/// damaged or cut short, `CaptureTooLargeError` when it is larger than
/// `max_pcap_size`, and `OSError` when it cannot be opened.
#[pyfunction]
#[pyo3(signature = (path, config = None))]
fn mine_path(
    py: Python<'_>,
    path: PathBuf,
    config: Option<&Bound<'_, Config>>,
) -> PyResult<Report> {
    let config = config::settings_or_default(config);
    let result = py.detach(|| pcap_miner::mine_path(&path, &config));
    report::from_result(py, result)
}

/// Mine a capture held in memory. `name` is the file name that error messages show.
#[pyfunction]
#[pyo3(signature = (data, config = None, name = "<bytes>"))]
fn mine_bytes(
    py: Python<'_>,
    data: &[u8],
    config: Option<&Bound<'_, Config>>,
    name: &str,
) -> PyResult<Report> {
    let config = config::settings_or_default(config);
    let result = py.detach(|| pcap_miner::mine_reader(Cursor::new(data), Path::new(name), &config));
    report::from_result(py, result)
}
