//! `pcap_miner.Report` and the conversion of mining results into Python objects.

use pcap_miner::{IndicatorKind, MineError, MineReport, MineResult};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use crate::errors::{os_error, CaptureDamagedError, CaptureTooLargeError, PcapMinerError};

/// Result of a mining run: indicator values after the ignore list and
/// `max_results`, the run's counters, and the kinds dropped whole.
#[pyclass(frozen, module = "pcap_miner")]
pub struct Report {
    report: MineReport,
}

#[pymethods]
impl Report {
    /// Kinds with values, as sorted lists: the Karton/MWDB attributes payload.
    #[getter]
    fn attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for kind in self.report.indicators.kinds() {
            dict.set_item(kind.key(), self.values(kind))?;
        }
        Ok(dict)
    }

    /// All four kinds, each a sorted list that may be empty.
    #[getter]
    fn indicators<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for kind in IndicatorKind::ALL {
            dict.set_item(kind.key(), self.values(kind))?;
        }
        Ok(dict)
    }

    /// Counters of the run, plus the totals `malformed` and `skipped`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = &self.report.stats;
        let mut value = serde_json::to_value(stats)
            .map_err(|error| PyRuntimeError::new_err(format!("cannot convert stats: {error}")))?;
        if let Value::Object(map) = &mut value {
            map.insert("malformed".into(), stats.malformed().into());
            map.insert("skipped".into(), stats.skipped().into());
        }
        json_to_python(py, &value)
    }

    /// Kinds left out for having more values than `max_results`, each a dict
    /// with `kind`, `count` and `max_results`.
    #[getter]
    fn dropped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for dropped in &self.report.dropped {
            let item = PyDict::new(py);
            item.set_item("kind", dropped.kind.key())?;
            item.set_item("count", dropped.count)?;
            item.set_item("max_results", dropped.max_results)?;
            list.append(item)?;
        }
        Ok(list)
    }

    /// Returns the sorted values of one kind, such as `"network-dns"`.
    fn get(&self, kind: &str) -> PyResult<Vec<String>> {
        Ok(self.values(parse_kind(kind)?))
    }

    /// Returns the numbers of the first packets (at most 8) that `value` was seen in.
    fn frames(&self, kind: &str, value: &str) -> PyResult<Vec<u64>> {
        let kind = parse_kind(kind)?;
        Ok(self.report.indicators.frames(kind, value).to_vec())
    }

    fn __repr__(&self) -> String {
        let counts: Vec<String> = IndicatorKind::ALL
            .iter()
            .map(|kind| format!("{}={}", kind.key(), self.report.indicators.count(*kind)))
            .collect();
        format!("Report({})", counts.join(", "))
    }
}

impl Report {
    fn values(&self, kind: IndicatorKind) -> Vec<String> {
        self.report
            .indicators
            .get(kind)
            .map(str::to_string)
            .collect()
    }
}

/// Converts a mining result into a report or the matching Python exception.
pub fn from_result(py: Python<'_>, result: MineResult) -> PyResult<Report> {
    let partial = match result {
        Ok(report) => return Ok(Report { report }),
        Err(partial) => *partial,
    };
    let message = partial.error.to_string();
    match partial.error {
        MineError::Open { source, .. } => Err(os_error(source.kind(), message)),
        MineError::TooLarge { size, limit, .. } => Err(too_large_error(py, message, size, limit)?),
        MineError::Capture { .. } => Err(damaged_error(py, message, partial.report)?),
        _ => Err(PcapMinerError::new_err(message)),
    }
}

fn too_large_error(py: Python<'_>, message: String, size: u64, limit: u64) -> PyResult<PyErr> {
    let error = CaptureTooLargeError::new_err(message);
    let value = error.value(py);
    value.setattr("size", size)?;
    value.setattr("limit", limit)?;
    Ok(error)
}

/// Builds `CaptureDamagedError` carrying the partial report and its parts.
fn damaged_error(py: Python<'_>, message: String, report: MineReport) -> PyResult<PyErr> {
    let error = CaptureDamagedError::new_err(message);
    let value = error.value(py);
    let report = Bound::new(py, Report { report })?;
    value.setattr("attributes", report.getattr("attributes")?)?;
    value.setattr("stats", report.getattr("stats")?)?;
    value.setattr("dropped", report.getattr("dropped")?)?;
    value.setattr("report", report)?;
    Ok(error)
}

fn parse_kind(key: &str) -> PyResult<IndicatorKind> {
    IndicatorKind::from_key(key).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown kind {key:?}: expected network-http, network-tcp, network-sni or network-dns"
        ))
    })
}

/// Converts a JSON value into the equivalent Python object.
fn json_to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    let object = match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => flag.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(number) => number_to_python(py, number)?,
        Value::String(text) => text.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_to_python(py, item)?)?;
            }
            dict.into_any()
        }
    };
    Ok(object)
}

fn number_to_python<'py>(
    py: Python<'py>,
    number: &serde_json::Number,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(unsigned) = number.as_u64() {
        return Ok(unsigned.into_pyobject(py)?.into_any());
    }
    if let Some(signed) = number.as_i64() {
        return Ok(signed.into_pyobject(py)?.into_any());
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    Ok(float.into_pyobject(py)?.into_any())
}
