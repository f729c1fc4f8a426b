//! `emulator::fuzzing::rest_json_request` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| emulator::fuzzing::rest_json_request(data));
