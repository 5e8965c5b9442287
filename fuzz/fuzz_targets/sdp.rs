//! libFuzzer runs `pn_fuzz::sdp` (see crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::sdp(data));
