//! Integration tests: real captures through the library and the `pcap-miner` binary.

// Helpers outside `#[test]` functions may unwrap too: a panic fails the test.
#![allow(clippy::unwrap_used)]

mod pcapgen;
mod util;

mod capture;
mod cli;
mod damaged;
mod decode;
mod decryption;
mod fuzz_regressions;
mod own_corpus;
mod push;
mod shared_corpus;
mod streams;
mod threads;
mod verify;
