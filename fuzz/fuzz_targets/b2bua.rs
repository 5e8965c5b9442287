//! libFuzzer runs `pn_fuzz::b2bua` (see crates/fuzz): event sequences fed to a whole B2BUA through the simulator.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pn_fuzz::b2bua(data));
