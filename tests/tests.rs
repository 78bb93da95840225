//! Integration tests: real captures through the library and the `pcap-miner` binary.

// Helpers outside `#[test]` functions may unwrap too: a panic fails the test.
#![allow(clippy::unwrap_used)]

mod util;

mod cli;
mod own_corpus;
mod shared_corpus;
