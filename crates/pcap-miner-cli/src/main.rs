//! `pcap-miner`: mine network indicators from a capture and print them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pcap_miner::{
    config, mine_file, mine_path, mine_reader, Config, IndicatorKind, MineReport, MineResult,
};

mod push;
mod verify;

/// Exit status when the capture was damaged (what came before the damage was still printed) or too large to mine.
const EXIT_DAMAGED: u8 = 1;
/// Maximum of `--threads`. Far more threads than cores only cost memory.
const MAX_THREADS: usize = 256;

/// Exit status for a usage or configuration error, or a capture that cannot be opened.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "pcap-miner",
    version,
    about = "Mine HTTP, TCP, TLS SNI and DNS indicators from pcap and pcapng captures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the indicators of a capture as Karton/MWDB attributes JSON.
    #[command(after_long_help = verify::lines::HELP)]
    Mine(MineArgs),
    /// Mine a capture and add its indicators to a sample in MWDB as attributes.
    Push(push::PushArgs),
    /// Compare the indicators of a capture with tshark's and explain every difference.
    Verify(verify::VerifyArgs),
}

#[derive(clap::Args)]
struct MineArgs {
    /// Capture file (pcap or pcapng); `-` reads standard input.
    capture: PathBuf,

    #[command(flatten)]
    settings: Settings,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,

    /// Print only this kind, such as network-dns.
    #[arg(long, value_name = "KIND", value_parser = verify::lines::parse_kind)]
    kind: Option<IndicatorKind>,

    /// Do not print the summary line on standard error.
    #[arg(long, short)]
    quiet: bool,
}

/// Settings of the `[pcap-miner]` INI section; flags override the file.
#[derive(clap::Args)]
struct Settings {
    /// INI file with a `[pcap-miner]` section (as the Karton service reads it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Networks of the sandbox VM, comma-separated; an empty value unsets it [default: 10.0.0.0/8].
    #[arg(long, value_name = "NETS")]
    vm_ip_range: Option<String>,

    /// A kind with more values than this is dropped whole; -1 means no limit [default: 24].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_results: Option<String>,

    /// JSON file of values to leave out, per attribute key; entries may be globs.
    #[arg(long, value_name = "FILE")]
    ignore_list: Option<PathBuf>,

    /// Captures larger than this many bytes are not mined.
    #[arg(long, value_name = "BYTES")]
    max_pcap_size: Option<String>,

    /// TLS secrets to decrypt HTTPS requests with: DRAKVUF tlsmon.log or an SSLKEYLOGFILE key log.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,

    /// Threads that read, decode and parse the capture together [default: 1].
    ///
    /// The values are those of one thread unless a memory limit is reached:
    /// each of the N connection shards gets an equal share of the limits.
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,

    #[command(flatten)]
    limits: Limits,
}

/// Memory limits; the defaults suit captures of any size.
#[derive(clap::Args)]
struct Limits {
    /// TCP connections tracked at once; past it the least recently active are finished early [default: 200000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Out-of-order bytes held per TCP stream before its hole is skipped [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    max_stream_buffer: Option<usize>,

    /// Out-of-order bytes held across all TCP streams [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    max_total_buffer: Option<usize>,

    /// Incomplete IP datagrams held for fragment reassembly [default: 4096].
    #[arg(long, value_name = "N")]
    max_pending_datagrams: Option<usize>,

    /// Bytes of one HTTP request head read before it is taken as it stands [default: 65536].
    #[arg(long, value_name = "BYTES")]
    max_head_len: Option<usize>,
}

impl Limits {
    /// Writes the given limits into `config`; zero is rejected.
    fn apply(&self, config: &mut Config) -> Result<(), String> {
        let positive = |value: Option<usize>, flag: &str| match value {
            Some(0) => Err(format!("--{flag} must be at least 1")),
            other => Ok(other),
        };
        if let Some(value) = positive(self.max_connections, "max-connections")? {
            config.flow_limits.max_connections = value;
        }
        if let Some(value) = positive(self.max_stream_buffer, "max-stream-buffer")? {
            config.flow_limits.max_stream_buffer = value;
        }
        if let Some(value) = positive(self.max_total_buffer, "max-total-buffer")? {
            config.flow_limits.max_total_buffer = value;
        }
        if let Some(value) = positive(self.max_pending_datagrams, "max-pending-datagrams")? {
            config.defrag_limits.max_pending_datagrams = value;
        }
        if let Some(value) = positive(self.max_head_len, "max-head-len")? {
            config.stream_limits.max_head_len = value;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Karton attributes: `{"network-dns": [...], ...}`, empty kinds left out.
    Json,
    /// One `kind<TAB>value` line per value.
    Text,
    /// tshark's field output shapes, for `diff` against tshark (see --help).
    Tshark,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Mine(args) => mine(&args),
        Command::Push(args) => push::run(&args),
        Command::Verify(args) => verify::run(&args),
    }
}

fn mine(args: &MineArgs) -> ExitCode {
    let config = match build_config(&args.settings) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("pcap-miner: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let result = run_mine(&args.capture, &config);
    let (report, error) = match result {
        Ok(report) => (report, None),
        Err(partial) => (partial.report, Some(partial.error)),
    };

    print_report(&report, args.format, args.kind);
    let printed = |kind: IndicatorKind| args.kind.is_none_or(|only| only == kind);
    for dropped in report
        .dropped
        .iter()
        .filter(|dropped| printed(dropped.kind))
    {
        eprintln!(
            "pcap-miner: warning: {} dropped: more than max_results ({}) values",
            dropped.kind, dropped.max_results
        );
    }
    let failed_records = report.stats.tls_decryption.records_failed;
    if failed_records > 0 {
        eprintln!(
            "pcap-miner: warning: {failed_records} TLS records failed authentication with the key log's secrets, \
             so the rest of those sessions stayed encrypted; check that the key log belongs to this capture"
        );
    }
    // A file that could not be opened has no counters worth a line.
    let opened = !matches!(error, Some(pcap_miner::MineError::Open { .. }));
    if !args.quiet && opened {
        eprintln!("{}", summary(capture_name(&args.capture), &report));
    }
    match error {
        None => ExitCode::SUCCESS,
        Some(error) => {
            eprintln!("pcap-miner: error: {error}");
            // A file that cannot be opened is a usage error, not a damaged capture.
            match error {
                pcap_miner::MineError::Open { .. } => ExitCode::from(EXIT_USAGE),
                _ => ExitCode::from(EXIT_DAMAGED),
            }
        }
    }
}

/// Returns the name that messages give the capture: `<stdin>` for `-`.
fn capture_name(capture: &Path) -> &Path {
    if capture == Path::new("-") {
        Path::new("<stdin>")
    } else {
        capture
    }
}

fn run_mine(capture: &Path, config: &Config) -> MineResult {
    if capture == Path::new("-") {
        let name = capture_name(capture);
        if let Some(file) = stdin_as_file() {
            return mine_file(file, name, config);
        }
        return mine_reader(std::io::stdin(), name, config);
    }
    mine_path(capture, config)
}

/// Returns standard input as a file when it is a regular file not read yet
/// (`mine - < capture`), so that several threads can read it at their own offsets.
#[cfg(unix)]
fn stdin_as_file() -> Option<std::fs::File> {
    use std::io::Seek;
    use std::os::fd::AsFd;

    let descriptor = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let mut file = std::fs::File::from(descriptor);
    let regular = file.metadata().ok()?.is_file();
    (regular && file.stream_position().ok()? == 0).then_some(file)
}

#[cfg(not(unix))]
fn stdin_as_file() -> Option<std::fs::File> {
    None
}

/// Warns of a missing `[pcap-miner]` section and of keys in it that nothing
/// reads, such as a misspelled `max_result`, which would otherwise leave the
/// default in place without a word.
fn warn_unread_ini_keys(path: &Path) {
    let Ok(section) = config::read_ini_section(path, "pcap-miner") else {
        return;
    };
    let Some(section) = section else {
        eprintln!(
            "pcap-miner: warning: {}: no [pcap-miner] section, so the defaults are used",
            path.display()
        );
        return;
    };
    for key in section.keys() {
        if !config::INI_KEYS.contains(&key.as_str()) {
            eprintln!(
                "pcap-miner: warning: {}: unknown key \"{key}\" in [pcap-miner] ignored (known keys: {})",
                path.display(),
                config::INI_KEYS.join(", ")
            );
        }
    }
}

fn build_config(settings: &Settings) -> Result<Config, String> {
    let mut config = match &settings.config {
        Some(path) => {
            let config = Config::from_ini_file(path).map_err(|error| error.to_string())?;
            warn_unread_ini_keys(path);
            config
        }
        None => Config::default(),
    };
    if let Some(value) = &settings.vm_ip_range {
        config.vm_networks = config::parse_vm_ip_range(value).map_err(|error| error.to_string())?;
    }
    if let Some(value) = &settings.max_results {
        config.max_results = config::parse_max_results(value).map_err(|error| error.to_string())?;
    }
    if let Some(value) = &settings.max_pcap_size {
        config.max_pcap_size =
            config::parse_max_pcap_size(value).map_err(|error| error.to_string())?;
    }
    if let Some(path) = &settings.ignore_list {
        config.ignore_list =
            pcap_miner::IgnoreList::from_file(path).map_err(|error| error.to_string())?;
    }
    if let Some(path) = &settings.keylog {
        config.key_log = Some(read_key_log(path)?);
    }
    config.threads = match settings.threads {
        Some(0) => return Err("--threads must be at least 1".to_string()),
        Some(threads) if threads > MAX_THREADS => {
            return Err(format!(
                "--threads must be at most {MAX_THREADS}, got {threads}"
            ))
        }
        Some(threads) => threads,
        None => 1,
    };
    settings.limits.apply(&mut config)?;
    Ok(config)
}

/// Reads a key log and prints a warning for each line that was skipped.
fn read_key_log(path: &Path) -> Result<std::sync::Arc<pcap_miner::keylog::KeyLog>, String> {
    let parsed = pcap_miner::keylog::KeyLog::from_file(path).map_err(|error| error.to_string())?;
    for warning in &parsed.warnings {
        eprintln!(
            "pcap-miner: warning: {}: {warning}, line skipped",
            path.display()
        );
    }
    let unlisted = parsed.skipped_lines - parsed.warnings.len();
    if unlisted > 0 {
        eprintln!(
            "pcap-miner: warning: {}: {unlisted} more lines skipped",
            path.display()
        );
    }
    Ok(std::sync::Arc::new(parsed.key_log))
}

fn print_report(report: &MineReport, format: Format, kind: Option<IndicatorKind>) {
    let mut indicators = report.indicators.clone();
    if let Some(kind) = kind {
        for other in IndicatorKind::ALL {
            if other != kind {
                indicators.remove_kind(other);
            }
        }
    }
    let text = match format {
        Format::Json => {
            let json = pcap_miner::report::attributes_json(&indicators);
            let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Text => pcap_miner::report::text(&indicators),
        Format::Tshark => verify::lines::tshark_lines(&indicators, kind),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn summary(capture: &Path, report: &MineReport) -> String {
    let stats = &report.stats;
    format!(
        "pcap-miner: {}: {} packets, {} bytes, {} connections, {} malformed, {} skipped",
        capture.display(),
        stats.packets,
        stats.bytes,
        stats.flows.connections,
        stats.malformed(),
        stats.skipped()
    )
}
