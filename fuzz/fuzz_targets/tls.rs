#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pcap_miner_props::tls_client_hello(data));
