#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pcap_miner_props::capture_reader(data));
