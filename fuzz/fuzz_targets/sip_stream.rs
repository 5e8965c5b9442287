//! libFuzzer runs `pn_fuzz::sip_stream` (see crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::sip_stream(data));
