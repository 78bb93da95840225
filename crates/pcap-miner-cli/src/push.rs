//! `pcap-miner push`: mine a capture and add its indicators to a sample in MWDB.
//!
//! Standard output gets one `STATUS<TAB>KEY<TAB>VALUE` line per value, with
//! STATUS one of `sent`, `present` (MWDB already had it), `not-sent` and, for
//! `--dry-run`, `would-send`. Warnings, retries, the summary and errors go to
//! standard error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use pcap_miner::{config, Config, IndicatorKind, MineReport};
use pcap_miner_mwdb::{
    check_keys, plan_push, prepare, push, Attribute, Change, Client, ClientOptions, MwdbError,
    PreparedValues, PushEvent, PushOutcome, RetryEvent, RetryPolicy, Sha256, Upload, ValueRules,
    DEFAULT_MAX_VALUE_LEN,
};

use crate::{build_config, run_mine, Settings, EXIT_DAMAGED, EXIT_USAGE};

/// Environment variable with the MWDB API URL, as karton-mwdb-reporter's `[mwdb] api_url`.
const ENV_API_URL: &str = "MWDB_API_URL";
/// Environment variable with the MWDB API key.
const ENV_API_KEY: &str = "MWDB_API_KEY";

#[derive(clap::Args)]
pub(crate) struct PushArgs {
    /// Capture file (pcap or pcapng); `-` reads standard input.
    capture: PathBuf,

    /// SHA-256 of the sample in MWDB that gets the indicators as attributes.
    #[arg(long, value_name = "SHA256")]
    sample: String,

    /// MWDB API URL, such as https://mwdb.example/api/ [default: $MWDB_API_URL, else api_url in the [mwdb] section of --config].
    #[arg(long, value_name = "URL")]
    mwdb_url: Option<String>,

    /// MWDB API key [default: $MWDB_API_KEY, else api_key in the [mwdb] section of --config]. Other users can read command lines, so prefer the variable.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,

    /// Upload this file as the sample first when MWDB does not have it; its SHA-256 must equal --sample.
    #[arg(long, value_name = "FILE")]
    upload: Option<PathBuf>,

    /// Print what would be sent and send nothing. When MWDB is reachable, values it already has are left out.
    #[arg(long)]
    dry_run: bool,

    /// With --dry-run: do not contact MWDB, and list every value found in the capture.
    #[arg(long, requires = "dry_run")]
    offline: bool,

    /// Seconds to keep retrying a request that fails to connect or gets HTTP 429, 502, 503 or 504.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    retry_deadline: Duration,

    /// Time limit of one request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    request_timeout: Duration,

    /// Values longer than this many bytes are cut to this length before sending.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_VALUE_LEN, value_parser = parse_max_value_length)]
    max_value_length: usize,

    #[command(flatten)]
    settings: Settings,

    /// Do not print the summary line on standard error.
    #[arg(long, short)]
    quiet: bool,
}

/// MWDB API URL and key.
struct Server {
    api_url: String,
    api_key: String,
}

/// Result of the MWDB part, before the capture's own state is taken into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Every value is stored (or, in a dry run, the plan was printed).
    Done,
    /// Some values were not sent, and they were listed.
    Incomplete,
    /// A setup error (API key, sample, key permissions, arguments): retrying as is will not help.
    Setup,
}

pub(crate) fn run(args: &PushArgs) -> ExitCode {
    let (config, sample, server) = match read_setup(args) {
        Ok(setup) => setup,
        Err(message) => {
            eprintln!("pcap-miner: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let (report, capture_error) = match run_mine(&args.capture, &config) {
        Ok(report) => (report, None),
        Err(partial) => (partial.report, Some(partial.error)),
    };
    warn_dropped(&report);

    let rules = ValueRules {
        max_len: args.max_value_length,
    };
    let prepared = match prepare(attributes_of(&report), &rules) {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("pcap-miner: error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    warn_changes(&prepared);

    let status = match (&server, args.dry_run) {
        (Some(server), false) => send(args, server, &sample, &prepared),
        (server, true) => dry_run(args, server.as_ref(), &sample, &prepared),
        // read_setup returns a server unless --offline, and --offline requires --dry-run.
        (None, false) => Status::Setup,
    };

    if let Some(error) = &capture_error {
        eprintln!("pcap-miner: error: {error}");
        if status != Status::Setup {
            let verb = if args.dry_run { "listed" } else { "pushed" };
            eprintln!("pcap-miner: only the values mined before the damage were {verb}");
        }
    }
    match status {
        Status::Setup => ExitCode::from(EXIT_USAGE),
        Status::Incomplete => ExitCode::from(EXIT_DAMAGED),
        Status::Done if capture_error.is_some() => ExitCode::from(EXIT_DAMAGED),
        Status::Done => ExitCode::SUCCESS,
    }
}

/// Reads the mining configuration, the sample digest and the server settings.
fn read_setup(args: &PushArgs) -> Result<(Config, Sha256, Option<Server>), String> {
    let config = build_config(&args.settings)?;
    let sample = Sha256::parse(&args.sample).map_err(|error| error.to_string())?;
    let server = if args.offline {
        None
    } else {
        Some(server_settings(args)?)
    };
    Ok((config, sample, server))
}

/// Takes each setting from the flag, else the environment, else the `[mwdb]` INI section.
fn server_settings(args: &PushArgs) -> Result<Server, String> {
    let section = match &args.settings.config {
        Some(path) => config::read_ini_section(path, "mwdb")
            .map_err(|error| error.to_string())?
            .unwrap_or_default(),
        None => Default::default(),
    };
    let pick = |flag: &Option<String>, variable: &str, ini_key: &str| {
        flag.clone()
            .or_else(|| std::env::var(variable).ok())
            .or_else(|| section.get(ini_key).cloned())
            .filter(|value| !value.trim().is_empty())
    };

    let api_url = pick(&args.mwdb_url, ENV_API_URL, "api_url").ok_or(
        "no MWDB API URL: pass --mwdb-url, set MWDB_API_URL, or set api_url in the [mwdb] \
         section of the --config file",
    )?;
    let api_key = pick(&args.api_key, ENV_API_KEY, "api_key").ok_or(
        "no MWDB API key: set MWDB_API_KEY, pass --api-key, or set api_key in the [mwdb] \
         section of the --config file",
    )?;
    Ok(Server { api_url, api_key })
}

fn attributes_of(report: &MineReport) -> Vec<Attribute> {
    IndicatorKind::ALL
        .into_iter()
        .flat_map(|kind| {
            report
                .indicators
                .get(kind)
                .map(move |value| Attribute::new(kind.key(), value))
        })
        .collect()
}

fn send(args: &PushArgs, server: &Server, sample: &Sha256, prepared: &PreparedValues) -> Status {
    let options = ClientOptions {
        retry: RetryPolicy {
            deadline: args.retry_deadline,
            ..RetryPolicy::default()
        },
        request_timeout: args.request_timeout,
    };
    let client = match Client::new(&server.api_url, &server.api_key, options) {
        Ok(client) => client.with_retry_listener(print_retry),
        Err(error) => return fail_before_sending(args, &error, &prepared.attributes),
    };

    if let Some(path) = &args.upload {
        match client.upload_sample(path, sample) {
            Ok(Upload::Uploaded) => {
                eprintln!("pcap-miner: uploaded {} as sample {sample}", path.display());
            }
            Ok(Upload::AlreadyPresent) => {
                eprintln!(
                    "pcap-miner: MWDB already has sample {sample}; {} was not uploaded",
                    path.display()
                );
            }
            Err(error) => return fail_before_sending(args, &error, &prepared.attributes),
        }
    }

    let plan = match plan_push(&client, sample, prepared.attributes.clone()) {
        Ok(plan) => plan,
        Err(error) => return fail_before_sending(args, &error, &prepared.attributes),
    };
    for attribute in &plan.present {
        print_line("present", attribute);
    }

    let outcome = push(&client, &plan, &mut |event| {
        if let PushEvent::Sent(attribute) = event {
            print_line("sent", attribute);
        }
    });
    report_outcome(args, sample, plan.present.len(), &outcome)
}

fn report_outcome(
    args: &PushArgs,
    sample: &Sha256,
    present: usize,
    outcome: &PushOutcome,
) -> Status {
    for attribute in &outcome.found_present {
        print_line("present", attribute);
    }
    for attribute in &outcome.not_sent {
        print_line("not-sent", attribute);
    }
    if !args.quiet {
        eprintln!(
            "pcap-miner: sample {sample}: {} sent, {} already present, {} not sent",
            outcome.sent.len(),
            present + outcome.found_present.len(),
            outcome.not_sent.len()
        );
    }
    for failure in &outcome.value_errors {
        eprintln!(
            "pcap-miner: error: {} value {:?} not stored: {}",
            failure.attribute.key, failure.attribute.value, failure.error
        );
    }
    if let Some(error) = &outcome.stopped {
        eprintln!("pcap-miner: error: push stopped: {}", describe(args, error));
    }
    if outcome.is_complete() {
        return Status::Done;
    }
    eprintln!(
        "pcap-miner: error: {} values were not sent (the not-sent lines); run the same command again to send them",
        outcome.not_sent.len()
    );
    match &outcome.stopped {
        Some(error) if is_setup_error(error) => Status::Setup,
        _ => Status::Incomplete,
    }
}

/// Reports an error that came before any value was sent, and lists every value as not sent.
fn fail_before_sending(args: &PushArgs, error: &MwdbError, attributes: &[Attribute]) -> Status {
    for attribute in attributes {
        print_line("not-sent", attribute);
    }
    eprintln!("pcap-miner: error: {}", describe(args, error));
    if is_setup_error(error) {
        return Status::Setup;
    }
    eprintln!(
        "pcap-miner: error: none of the {} values was sent; run the same command again to send them",
        attributes.len()
    );
    Status::Incomplete
}

fn dry_run(
    args: &PushArgs,
    server: Option<&Server>,
    sample: &Sha256,
    prepared: &PreparedValues,
) -> Status {
    let Some(server) = server else {
        return print_unchecked(args, prepared, "--offline: MWDB was not contacted");
    };
    let options = ClientOptions {
        retry: RetryPolicy::no_retry(),
        request_timeout: args.request_timeout,
    };
    let client = match Client::new(&server.api_url, &server.api_key, options) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("pcap-miner: error: {error}");
            return Status::Setup;
        }
    };

    if let Some(path) = &args.upload {
        match dry_run_upload(&client, path, sample) {
            Ok(true) => {}
            Ok(false) => return dry_run_new_sample(args, &client, prepared),
            Err(error) => return dry_run_failure(args, &error, prepared),
        }
    }

    match plan_push(&client, sample, prepared.attributes.clone()) {
        Ok(plan) => {
            for attribute in &plan.present {
                print_line("present", attribute);
            }
            for attribute in &plan.to_send {
                print_line("would-send", attribute);
            }
            if !args.quiet {
                eprintln!(
                    "pcap-miner: dry run for sample {sample}: {} would be sent, {} already present",
                    plan.to_send.len(),
                    plan.present.len()
                );
            }
            Status::Done
        }
        Err(error) => dry_run_failure(args, &error, prepared),
    }
}

/// Checks the file's digest and returns whether MWDB already has the sample. Uploads nothing.
fn dry_run_upload(client: &Client, path: &Path, sample: &Sha256) -> Result<bool, MwdbError> {
    let actual = Sha256::of_file(path)?;
    if &actual != sample {
        return Err(MwdbError::Sha256Mismatch {
            path: path.to_path_buf(),
            expected: sample.to_string(),
            actual: actual.to_string(),
        });
    }
    let exists = client.sample_exists(sample)?;
    if !exists {
        eprintln!(
            "pcap-miner: dry run: would upload {} as sample {sample}",
            path.display()
        );
    }
    Ok(exists)
}

fn dry_run_new_sample(args: &PushArgs, client: &Client, prepared: &PreparedValues) -> Status {
    if let Err(error) = check_keys(client, &prepared.attributes) {
        return dry_run_failure(args, &error, prepared);
    }
    for attribute in &prepared.attributes {
        print_line("would-send", attribute);
    }
    if !args.quiet {
        eprintln!(
            "pcap-miner: dry run: {} values would be sent to the new sample",
            prepared.attributes.len()
        );
    }
    Status::Done
}

/// Prints every value when MWDB is unreachable, and reports any other error as a real push does.
fn dry_run_failure(args: &PushArgs, error: &MwdbError, prepared: &PreparedValues) -> Status {
    if is_unreachable(error) {
        let reason =
            format!("MWDB is unreachable ({error}), so values it already has are listed too");
        return print_unchecked(args, prepared, &reason);
    }
    eprintln!("pcap-miner: error: {}", describe(args, error));
    if is_setup_error(error) {
        Status::Setup
    } else {
        Status::Incomplete
    }
}

fn print_unchecked(args: &PushArgs, prepared: &PreparedValues, reason: &str) -> Status {
    for attribute in &prepared.attributes {
        print_line("would-send", attribute);
    }
    if !args.quiet {
        eprintln!(
            "pcap-miner: dry run: {} values found; {reason}",
            prepared.attributes.len()
        );
    }
    Status::Done
}

/// Adds the command-line hint to errors that have one.
fn describe(args: &PushArgs, error: &MwdbError) -> String {
    match error {
        MwdbError::SampleNotFound { .. } if args.upload.is_none() => {
            format!("{error} (pass --upload FILE to upload it)")
        }
        _ => error.to_string(),
    }
}

fn is_setup_error(error: &MwdbError) -> bool {
    matches!(
        error,
        MwdbError::InvalidApiUrl { .. }
            | MwdbError::InvalidSha256 { .. }
            | MwdbError::InvalidKey { .. }
            | MwdbError::Unauthenticated { .. }
            | MwdbError::SampleNotFound { .. }
            | MwdbError::KeysNotSettable { .. }
            | MwdbError::KeyNotSettable { .. }
            | MwdbError::EndpointNotFound { .. }
            | MwdbError::ReadFile { .. }
            | MwdbError::Sha256Mismatch { .. }
    )
}

/// Returns true when MWDB gave no usable response: no connection, or only retryable statuses.
fn is_unreachable(error: &MwdbError) -> bool {
    match error {
        MwdbError::Transport { .. } => true,
        MwdbError::GaveUp { last, .. } => is_unreachable(last) || last.is_retryable(),
        _ => false,
    }
}

fn warn_dropped(report: &MineReport) {
    for dropped in &report.dropped {
        eprintln!(
            "pcap-miner: warning: {} dropped: more than max_results ({}) values",
            dropped.kind, dropped.max_results
        );
    }
}

fn warn_changes(prepared: &PreparedValues) {
    for adjustment in &prepared.adjusted {
        let reasons: Vec<String> = adjustment
            .changes
            .iter()
            .map(|change| match change {
                Change::NulEscaped { count } => format!("{count} NUL characters written as \\x00"),
                Change::Truncated { original_len } => {
                    format!("cut from {original_len} to {} bytes", adjustment.sent.len())
                }
            })
            .collect();
        eprintln!(
            "pcap-miner: warning: {} value changed before sending ({}): {}",
            adjustment.key,
            reasons.join(", "),
            quote_start(&adjustment.original)
        );
    }
    for attribute in &prepared.empty {
        eprintln!(
            "pcap-miner: warning: empty {} value not sent: MWDB rejects empty values",
            attribute.key
        );
    }
}

/// Quotes a value for a message with control characters escaped, showing only the first 100 characters.
fn quote_start(value: &str) -> String {
    const SHOWN: usize = 100;
    match value.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{:?}... ({} bytes)", &value[..end], value.len()),
        None => format!("{value:?}"),
    }
}

fn print_retry(event: &RetryEvent<'_>) {
    eprintln!(
        "pcap-miner: attempt {}: {}; retrying in {:.1} s",
        event.attempt,
        event.error,
        event.delay.as_secs_f64()
    );
}

fn print_line(status: &str, attribute: &Attribute) {
    let line = format!("{status}\t{}\t{}\n", attribute.key, attribute.value);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(line.as_bytes());
    let _ = stdout.flush();
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of seconds {value:?}"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("invalid number of seconds {value:?}: expected 0 or more"))
}

fn parse_max_value_length(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(length) if length > 0 => Ok(length),
        _ => Err(format!(
            "invalid length {value:?}: expected a whole number of bytes, at least 1"
        )),
    }
}
