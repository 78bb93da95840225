//! Mines one capture and prints every indicator with its kind.
//!
//! Run it with `cargo run --example mine -- CAPTURE`.

use std::path::PathBuf;
use std::process::ExitCode;

use pcap_miner::{mine_path, Config};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: mine CAPTURE");
        return ExitCode::from(2);
    };

    // With vm_ip_range unset, the TCP direction rule alone picks the endpoint.
    let config = Config {
        vm_networks: Vec::new(),
        ..Config::default()
    };
    let (report, error) = match mine_path(&path, &config) {
        Ok(report) => (report, None),
        Err(partial) => (partial.report, Some(partial.error)),
    };

    for kind in report.indicators.kinds() {
        for value in report.indicators.get(kind) {
            let frames = report.indicators.frames(kind, value);
            println!(
                "{kind}\t{value}\tfirst seen in packet {}",
                frames.first().copied().unwrap_or(0)
            );
        }
    }
    eprintln!(
        "{} packets, {} TCP connections",
        report.stats.packets, report.stats.flows.connections
    );
    match error {
        Some(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
