//! boto3 against `podstack start` for SQS, Secrets Manager and STS: runs
//! `tests/python/services_boto3.py`. The server runs with `PODSTACK_CLOCK_CONTROL=1`, so
//! visibility timeouts, delays, dedup windows and recovery windows are tested by moving its
//! clock instead of waiting.

use e2e::{Emulator, have_boto3, run_python_suite};

#[test]
fn services_suite() {
    if !have_boto3() {
        return;
    }
    let emu = Emulator::start_with_env(&[("PODSTACK_CLOCK_CONTROL", "1")]);
    run_python_suite(&emu, "tests/python/services_boto3.py", 15);
}
