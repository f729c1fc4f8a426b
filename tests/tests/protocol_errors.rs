//! Malformed requests, unknown operations and unimplemented operations in every protocol,
//! each answer parsed by botocore's own parser for that service: runs
//! `tests/python/protocol_errors.py` (which needs botocore; tests/run installs boto3).

use e2e::{Emulator, run_python_suite};

#[test]
fn every_protocol_answers_errors_botocore_can_read() {
    let emu = Emulator::start();
    run_python_suite(&emu, "tests/python/protocol_errors.py", 7);
}
