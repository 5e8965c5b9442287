//! libFuzzer runs `pn_fuzz::sdp_whitelist` (see crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::sdp_whitelist(data));
