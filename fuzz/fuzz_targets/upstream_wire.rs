//! Upstream answers read as each call reads them (`checkout_gateway::tools::fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checkout_gateway::tools::fuzz::upstream_wire(data));
