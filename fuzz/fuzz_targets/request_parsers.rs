//! Partner request bodies, path ids and interpreted headers (`checkout_gateway::tools::fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checkout_gateway::tools::fuzz::request_parsers(data));
