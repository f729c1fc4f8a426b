//! `emulator::fuzzing::aws_chunked` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| emulator::fuzzing::aws_chunked(data));
