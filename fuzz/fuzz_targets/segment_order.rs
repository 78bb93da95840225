#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pcap_miner_props::segment_order(data));
