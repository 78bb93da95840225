//! The module's exceptions and the mapping of library errors onto them.

use std::io;

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError,
};
use pyo3::PyErr;

create_exception!(
    pcap_miner,
    PcapMinerError,
    PyException,
    "Base class of the errors raised by pcap_miner."
);
create_exception!(
    pcap_miner,
    ConfigError,
    PcapMinerError,
    "A setting, INI file or ignore list is invalid."
);
create_exception!(
    pcap_miner,
    CaptureTooLargeError,
    PcapMinerError,
    "The capture is larger than max_pcap_size and was not mined; `.size` and `.limit` are in bytes."
);
create_exception!(
    pcap_miner,
    CaptureDamagedError,
    PcapMinerError,
    "The capture is damaged or cut short. `.report` holds what was mined before the damage, \
     and `.attributes`, `.stats` and `.dropped` are that report's."
);

/// Converts a configuration error. An unreadable file becomes an `OSError`.
pub fn config_error(error: pcap_miner::ConfigError) -> PyErr {
    match &error {
        pcap_miner::ConfigError::Read { source, .. } => os_error(source.kind(), error.to_string()),
        _ => ConfigError::new_err(error.to_string()),
    }
}

/// Returns the `OSError` subclass Python uses for `kind`, with `message`.
pub fn os_error(kind: io::ErrorKind, message: String) -> PyErr {
    match kind {
        io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
        io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
        io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}
