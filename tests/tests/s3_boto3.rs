//! boto3 against `podstack start`: runs `tests/python/s3_boto3.py` (unittest) with the
//! endpoint in `PODSTACK_ENDPOINT` and fails when any of its tests fails.

use e2e::{Emulator, have_boto3, run_python_suite};

#[test]
fn boto3_suite() {
    if !have_boto3() {
        return;
    }
    run_python_suite(&Emulator::start(), "tests/python/s3_boto3.py", 30);
}
