//! libFuzzer runs `pn_fuzz::telephone_event` (see crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::telephone_event(data));
