//! libFuzzer runs `pn_fuzz::sip_message` (see crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::sip_message(data));
