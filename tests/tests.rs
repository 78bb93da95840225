//! Integration tests: real captures through the library and the `pcap-miner` binary.

mod util;

mod cli;
mod own_corpus;
mod shared_corpus;
