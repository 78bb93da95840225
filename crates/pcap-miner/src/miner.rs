//! The pipeline: capture reading, decoding, flows and application parsers
//! feeding the indicator sets.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use crate::app::quic::QuicStats;
use crate::app::tls_decrypt::TlsDecryptStats;
use crate::capture::{CaptureError, CaptureReader, Packet};
use crate::config::{Config, DroppedKind};
use crate::decode::{DecodeStats, Decoder};
use crate::flow::FlowStats;
use crate::indicators::IndicatorSets;
use crate::parallel;
use crate::shard::Shard;

/// Mining could not start, or stopped at damage in the capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MineError {
    /// The capture file could not be opened.
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The capture is larger than `max_pcap_size`; `size` is a lower bound when it was read from a stream.
    #[error("{}: capture is larger than max_pcap_size ({limit} bytes, read {size}); not mined", name.display())]
    TooLarge {
        name: PathBuf,
        size: u64,
        limit: u64,
    },
    /// The capture is damaged or unreadable at a known place.
    #[error("{}: {source}", name.display())]
    Capture {
        /// File name, or `<stdin>`.
        name: PathBuf,
        #[source]
        source: CaptureError,
    },
}

impl MineError {
    /// Returns the capture error inside, if the damage is in the capture itself.
    pub fn capture_error(&self) -> Option<&CaptureError> {
        match self {
            MineError::Capture { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Counters of one mining run, under stable names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MineStats {
    /// Packets read.
    pub packets: u64,
    /// Bytes of the capture read.
    pub bytes: u64,
    pub tcp_segments: u64,
    pub udp_datagrams: u64,
    pub decode: DecodeStats,
    pub flows: FlowStats,
    /// DNS names or messages that could not be read.
    pub malformed_dns: u64,
    /// Streams that began like a TLS ClientHello that could not be read.
    pub malformed_client_hellos: u64,
    /// HTTP request heads read as they stood because a head limit was reached.
    pub heads_cut: u64,
    /// pcapng packet blocks whose interface was never described.
    pub orphan_packets: u64,
    /// TLS sessions and records decrypted with the key log.
    pub tls_decryption: TlsDecryptStats,
    /// QUIC Initial packets decrypted and ClientHellos read from them.
    pub quic: QuicStats,
    /// Damaged places in the capture (the first is the run's error).
    pub damaged_records: u64,
}

impl MineStats {
    /// Returns the number of frames, headers and messages found malformed.
    pub fn malformed(&self) -> u64 {
        self.decode.malformed
            + self.malformed_dns
            + self.malformed_client_hellos
            + self.quic.malformed_client_hellos
    }

    /// Returns the number of frames skipped without being malformed.
    pub fn skipped(&self) -> u64 {
        self.decode.unsupported_link_type + self.decode.too_deep + self.orphan_packets
    }
}

/// Result of a mining run.
#[derive(Debug, Clone)]
pub struct MineReport {
    /// Indicator values after the ignore list and `max_results`.
    pub indicators: IndicatorSets,
    pub stats: MineStats,
    /// Kinds dropped whole for having more values than `max_results`.
    pub dropped: Vec<DroppedKind>,
}

/// Result of a mining run that damage stopped, with the error.
#[derive(Debug)]
pub struct PartialReport {
    /// Everything mined from the packets before the damage.
    pub report: MineReport,
    pub error: MineError,
}

/// The result of mining a capture: the report, and the error that stopped
/// reading early, if any. The report then contains what came before the damage.
pub type MineResult = Result<MineReport, Box<PartialReport>>;

/// Mines the capture file at `path`; see [`mine_file`].
pub fn mine_path(path: &Path, config: &Config) -> MineResult {
    let fail = |error: MineError| {
        Box::new(PartialReport {
            report: Miner::new(config).finish(),
            error,
        })
    };
    let open = |source| {
        fail(MineError::Open {
            path: path.to_path_buf(),
            source,
        })
    };
    let file = File::open(path).map_err(open)?;

    // On Linux, opening a directory for reading succeeds and only the first read fails.
    if file.metadata().is_ok_and(|metadata| metadata.is_dir()) {
        let error = io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory, not a capture file",
        );
        return Err(open(error));
    }
    mine_file(file, path, config)
}

/// Mines an open capture file from its first byte, wherever its cursor is;
/// `name` appears in error messages.
///
/// With `config.threads` above 1 and a regular file, that many threads read,
/// decode and mine the file together, each at its own offsets, and the result
/// is the same. Other files (pipes, devices) are read as streams from where
/// they are. A regular file's cursor is left at its end, as reading it through
/// would leave it.
pub fn mine_file(mut file: File, name: &Path, config: &Config) -> MineResult {
    let metadata = file.metadata().ok();
    if let (Some(limit), Some(metadata)) = (config.max_pcap_size, &metadata) {
        if metadata.len() > limit {
            return Err(Box::new(PartialReport {
                report: Miner::new(config).finish(),
                error: MineError::TooLarge {
                    name: name.to_path_buf(),
                    size: metadata.len(),
                    limit,
                },
            }));
        }
    }
    let is_file = metadata.is_some_and(|metadata| metadata.is_file());
    if !is_file {
        return mine_reader(file, name, config);
    }
    if config.threads == 1 {
        // Seeking a regular file does not fail on Linux, so the result is not checked.
        let _ = file.rewind();
        return mine_reader(file, name, config);
    }

    let mut stats = MineStats::default();
    let (indicators, outcome) = parallel::mine_parallel::<File>(
        parallel::Input::File(&file),
        config,
        config.threads,
        &mut stats,
    );
    // The threads read at offsets and never move the cursor. Another process
    // sharing it (a shell's redirected standard input) expects it at the end.
    let _ = file.seek(io::SeekFrom::End(0));
    outcome_of(name, filtered_report(config, indicators, stats), outcome)
}

/// Mines a capture read from `input`; `name` appears in error messages (use `<stdin>` for standard input).
///
/// With `config.threads` above 1, that many threads decode and mine while
/// they take turns reading; the result is the same.
pub fn mine_reader<R: Read + Send>(input: R, name: &Path, config: &Config) -> MineResult {
    // Read at most one byte past the limit: enough to know the input is too large.
    let limit = config.max_pcap_size;
    let mut counted = CountingReader {
        inner: input.take(limit.map_or(u64::MAX, |limit| limit.saturating_add(1))),
        count: 0,
    };
    let (report, outcome) = if config.threads > 1 {
        let mut stats = MineStats::default();
        let (indicators, outcome) = parallel::mine_parallel(
            parallel::Input::Stream(&mut counted),
            config,
            config.threads,
            &mut stats,
        );
        (filtered_report(config, indicators, stats), outcome)
    } else {
        let mut miner = Miner::new(config);
        let outcome = miner.read_all(&mut counted);
        (miner.finish(), outcome)
    };

    if let Some(limit) = limit.filter(|&limit| counted.count > limit) {
        return Err(Box::new(PartialReport {
            report: Miner::new(config).finish(),
            error: MineError::TooLarge {
                name: name.to_path_buf(),
                size: counted.count,
                limit,
            },
        }));
    }
    outcome_of(name, report, outcome)
}

/// Joins a report with the error that stopped reading, if any.
fn outcome_of(name: &Path, report: MineReport, outcome: Result<(), CaptureError>) -> MineResult {
    match outcome {
        Ok(()) => Ok(report),
        Err(source) => Err(Box::new(PartialReport {
            report,
            error: MineError::Capture {
                name: name.to_path_buf(),
                source,
            },
        })),
    }
}

/// Reads every packet left in `reader` into `on_packet`, counting packets and
/// damage in `stats`. Reading goes on where the reader resumes after damage,
/// and the first error is returned.
pub(crate) fn read_packets(
    reader: &mut CaptureReader<'_>,
    stats: &mut MineStats,
    on_packet: &mut dyn FnMut(&Packet<'_>),
) -> Result<(), CaptureError> {
    let mut first_error = None;
    loop {
        match reader.next_packet() {
            Ok(Some(packet)) => {
                stats.packets += 1;
                on_packet(&packet);
            }
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(%error, "damaged capture");
                stats.damaged_records += 1;
                first_error.get_or_insert(error);
                if reader.is_finished() {
                    break;
                }
            }
        }
    }
    stats.bytes = reader.offset();
    stats.orphan_packets = reader.orphan_packets();
    first_error.map_or(Ok(()), Err)
}

/// Applies the ignore list and `max_results`, and warns about kinds dropped whole.
fn filtered_report(config: &Config, mut indicators: IndicatorSets, stats: MineStats) -> MineReport {
    let dropped = config.filter(&mut indicators);
    for drop in &dropped {
        tracing::warn!(
            kind = drop.kind.key(),
            count = drop.count,
            max_results = drop.max_results,
            "kind dropped: more values than max_results"
        );
    }
    MineReport {
        indicators,
        stats,
        dropped,
    }
}

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count += read as u64;
        Ok(read)
    }
}

/// Mines packets one at a time; use it to feed packets from another source.
pub struct Miner {
    config: Config,
    decoder: Decoder,
    /// Every connection, in one shard.
    shard: Shard,
    stats: MineStats,
}

impl Miner {
    /// Creates a miner with empty state.
    pub fn new(config: &Config) -> Self {
        Miner {
            config: config.clone(),
            decoder: Decoder::new(config.defrag_limits),
            shard: Shard::new(config, 1),
            stats: MineStats::default(),
        }
    }

    /// Reads every packet of a capture; on damage, keeps what was mined before it.
    pub fn read_all<R: Read + Send>(&mut self, input: R) -> Result<(), CaptureError> {
        let mut reader = CaptureReader::new(input)?;
        // `packet` counts packets; reading counts the rest.
        let mut reading = MineStats::default();
        let result = read_packets(&mut reader, &mut reading, &mut |packet| self.packet(packet));
        self.stats.bytes = reading.bytes;
        self.stats.orphan_packets = reading.orphan_packets;
        self.stats.damaged_records += reading.damaged_records;
        result
    }

    /// Mines one packet.
    pub fn packet(&mut self, packet: &Packet<'_>) {
        self.stats.packets += 1;
        let Miner { decoder, shard, .. } = self;
        decoder.decode(packet, &mut |transport| {
            shard.transport(packet.number, transport)
        });
    }

    /// Ends every connection and returns the filtered indicators with the counters.
    pub fn finish(mut self) -> MineReport {
        let mut indicators = IndicatorSets::with_max_values(self.config.max_results);
        self.shard
            .finish(self.stats.packets)
            .add_to(&mut self.stats, &mut indicators);
        self.stats.decode = self.decoder.stats();

        filtered_report(&self.config, indicators, self.stats)
    }
}
