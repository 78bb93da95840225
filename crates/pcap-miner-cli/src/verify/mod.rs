//! `pcap-miner verify`: compares what pcap-miner mines from a capture with
//! what tshark reports for it, through the queries karton-pcap-miner ran,
//! and explains every difference with a rule checked against the capture.
//!
//! Steps: get tshark's outputs (run tshark, or read saved outputs), read them
//! into the four kinds, mine the capture, gather facts about the frames
//! behind each difference, classify, confirm some rules with one more tshark
//! run, and print.

mod classify;
mod confirm;
mod dns_rules;
mod escaping;
mod evidence;
mod http_rules;
pub mod lines;
mod output;
mod reference;
mod reparse;
mod rules;
mod sni_rules;
mod tables;
mod tcp_rules;
mod tshark;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pcap_miner::capture::CaptureErrorKind;
use pcap_miner::{config, mine_path, Config, MineError};

use classify::{Context, KindComparison, Sides};
use evidence::CaptureFacts;
use output::{Report, TsharkSource};
use tables::RawOutputs;
use tshark::{Tshark, TsharkError};

/// Exit status when some difference is unexplained.
const EXIT_UNEXPLAINED: u8 = 1;
/// Exit status when tshark could not run, or an input is unusable.
const EXIT_ERROR: u8 = 2;

/// Arguments of `pcap-miner verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Capture file (pcap or pcapng).
    capture: PathBuf,

    /// Key log (NSS format or DRAKVUF tlsmon.log): tshark and pcap-miner decrypt TLS with it [default with --reference:
    /// DIR/keylog.txt when it exists].
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,

    /// tshark program to run (4.x).
    #[arg(long, value_name = "PATH", default_value = "tshark")]
    tshark: PathBuf,

    /// Networks of the sandbox VM, comma-separated; unset by default, because tshark has no such setting.
    #[arg(long, value_name = "NETS")]
    vm_ip_range: Option<String>,

    /// Read saved tshark outputs from DIR instead of running tshark (conv_tcp.txt and
    /// extra/{http_requests,client_hellos,dns_queries}.tsv, extra/tcp_streams.tsv).
    #[arg(long, value_name = "DIR", conflicts_with = "tshark")]
    reference: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    format: VerifyFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VerifyFormat {
    /// A report for people: values per kind, each difference with its class and evidence.
    Text,
    /// The same report as one JSON object.
    Json,
}

/// An error that stops the comparison.
#[derive(Debug)]
enum VerifyError {
    Usage(String),
    Tshark(TsharkError),
    Reference(reference::ReferenceError),
    Capture(MineError),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Usage(message) => f.write_str(message),
            VerifyError::Tshark(error) => error.fmt(f),
            VerifyError::Reference(error) => error.fmt(f),
            VerifyError::Capture(error) => error.fmt(f),
        }
    }
}

impl From<TsharkError> for VerifyError {
    fn from(error: TsharkError) -> Self {
        VerifyError::Tshark(error)
    }
}

/// Runs `pcap-miner verify` and returns its exit status.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let report = match verify(args) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("pcap-miner: error: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let text = match args.format {
        VerifyFormat::Text => output::text(&report),
        VerifyFormat::Json => {
            let mut text = serde_json::to_string_pretty(&output::json(&report)).unwrap_or_default();
            text.push('\n');
            text
        }
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();

    let unexplained = report.summary().unexplained;
    if unexplained > 0 {
        eprintln!("pcap-miner: {unexplained} differences from tshark are unexplained");
        return ExitCode::from(EXIT_UNEXPLAINED);
    }
    ExitCode::SUCCESS
}

fn verify(args: &VerifyArgs) -> Result<Report, VerifyError> {
    let keylog = key_log_path(args);
    let config = verify_config(args, keylog.as_deref())?;
    let mut damage = Vec::new();
    let mut warnings = Vec::new();

    // Mining first reports a missing or unreadable capture in pcap-miner's words, not tshark's.
    let ours = mine(&args.capture, &config, &mut damage)?;
    let side = TsharkSide::open(args, keylog.as_deref(), &mut warnings)?;
    let raw = side.outputs(&args.capture, &mut damage)?;
    let view = tables::read_view(&raw);
    warnings.extend(view.warnings.iter().cloned());

    let sides = Sides {
        ours: &ours,
        tshark: &view,
    };
    let facts = CaptureFacts::gather(&args.capture, &sides.frames_to_examine());
    let context = Context {
        sides,
        facts: &facts,
        config: &config,
        decrypted: keylog.is_some(),
    };
    let mut kinds = classify::compare(&context);
    side.confirm(&mut kinds, &args.capture)?;

    let without_syn = view
        .conversations
        .iter()
        .filter(|conversation| conversation.syn.is_none())
        .cloned()
        .collect();
    Ok(Report {
        capture: args.capture.clone(),
        tshark: side.source(),
        kinds,
        without_syn,
        damage,
        warnings,
    })
}

/// The source of tshark's side of the comparison: a tshark run or saved outputs.
enum TsharkSide {
    Run { tshark: Tshark, version: String },
    Reference { dir: PathBuf },
}

impl TsharkSide {
    /// Checks that tshark runs, unless saved outputs are read.
    fn open(
        args: &VerifyArgs,
        keylog: Option<&Path>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, VerifyError> {
        if let Some(dir) = &args.reference {
            return Ok(TsharkSide::Reference { dir: dir.clone() });
        }
        let tshark = Tshark::new(&args.tshark, keylog)?;
        let version = tshark.version()?;
        if !version.contains(" 4.") {
            warnings.push(format!(
                "the rules describe tshark 4.x; {version:?} may differ in ways they do not explain"
            ));
        }
        Ok(TsharkSide::Run { tshark, version })
    }

    /// Runs the queries, or reads the saved outputs.
    fn outputs(&self, capture: &Path, damage: &mut Vec<String>) -> Result<RawOutputs, VerifyError> {
        match self {
            TsharkSide::Run { tshark, .. } => Ok(tshark::run_queries(tshark, capture, damage)?),
            TsharkSide::Reference { dir } => reference::read(dir).map_err(VerifyError::Reference),
        }
    }

    /// Runs the tshark queries that confirm rules; with saved outputs, notes that none ran.
    fn confirm(&self, kinds: &mut [KindComparison], capture: &Path) -> Result<(), VerifyError> {
        match self {
            TsharkSide::Run { tshark, .. } => Ok(confirm::confirm(kinds, tshark, capture)?),
            TsharkSide::Reference { .. } => {
                confirm::mark_unconfirmed(kinds);
                Ok(())
            }
        }
    }

    fn source(&self) -> TsharkSource {
        match self {
            TsharkSide::Run { version, .. } => TsharkSource::Run {
                version: version.clone(),
            },
            TsharkSide::Reference { dir } => TsharkSource::Reference {
                dir: dir.clone(),
                version: reference::version(dir),
            },
        }
    }
}

/// Returns the key log both sides decrypt with: `--keylog`, else a reference folder's `keylog.txt`.
fn key_log_path(args: &VerifyArgs) -> Option<PathBuf> {
    if let Some(path) = &args.keylog {
        return Some(path.clone());
    }
    let saved = args.reference.as_ref()?.join("keylog.txt");
    saved.is_file().then_some(saved)
}

/// Mining settings for a comparison: no value limit, `vm_ip_range` only when
/// asked for, and the key log tshark decrypts with.
fn verify_config(args: &VerifyArgs, keylog: Option<&Path>) -> Result<Config, VerifyError> {
    let vm_networks = config::parse_vm_ip_range(args.vm_ip_range.as_deref().unwrap_or(""))
        .map_err(|error| VerifyError::Usage(error.to_string()))?;
    let key_log = match keylog {
        Some(path) => Some(super::read_key_log(path).map_err(VerifyError::Usage)?),
        None => None,
    };
    Ok(Config {
        vm_networks,
        max_results: None,
        key_log,
        ..Config::default()
    })
}

/// Mines the capture; damage keeps what was mined around it.
fn mine(
    capture: &Path,
    config: &Config,
    damage: &mut Vec<String>,
) -> Result<pcap_miner::IndicatorSets, VerifyError> {
    let partial = match mine_path(capture, config) {
        Ok(report) => return Ok(report.indicators),
        Err(partial) => partial,
    };
    // A file that cannot be opened or is no capture at all gives nothing to compare.
    let unreadable = match partial.error.capture_error() {
        None => true,
        Some(error) => matches!(
            error.kind,
            CaptureErrorKind::Empty
                | CaptureErrorKind::HeaderTruncated { .. }
                | CaptureErrorKind::NotACapture { .. }
        ),
    };
    if unreadable {
        return Err(VerifyError::Capture(partial.error));
    }
    damage.push(format!("pcap-miner: {}", partial.error));
    Ok(partial.report.indicators)
}
