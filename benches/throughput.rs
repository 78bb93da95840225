//! Whole-file mining throughput, in bytes of capture per second.
//!
//! The capture is a 50 MiB file from the corpus generator; every iteration
//! must find exactly the generator's ground truth, so a broken build cannot
//! report a fast time for doing nothing.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcap_miner::{mine_path, Config, IndicatorKind};

mod common;

fn whole_file(c: &mut Criterion) {
    let (capture, truth) = common::capture("50M");
    let expected = common::truth_counts(&truth);
    let bytes = std::fs::metadata(&capture).expect("capture size").len();
    let config = Config {
        max_results: None,
        ..Config::default()
    };

    let mut group = c.benchmark_group("mine");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    for threads in [1, cores] {
        let config = Config {
            threads,
            ..config.clone()
        };
        group.bench_function(format!("whole_file_50M_j{threads}"), |b| {
            b.iter(|| {
                let report = mine_path(&capture, &config).expect("the generated capture is valid");
                let kinds = [
                    IndicatorKind::Http,
                    IndicatorKind::Tcp,
                    IndicatorKind::Sni,
                    IndicatorKind::Dns,
                ];
                let counts = kinds.map(|kind| report.indicators.count(kind));
                assert_eq!(
                    counts, expected,
                    "mined values differ from the ground truth"
                );
            })
        });
        if cores == 1 {
            break;
        }
    }
    group.finish();
}

criterion_group!(benches, whole_file);
criterion_main!(benches);
