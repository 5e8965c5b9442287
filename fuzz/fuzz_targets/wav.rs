//! libFuzzer runs `pn_fuzz::wav` (see crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::wav(data));
