//! The aws CLI against `podstack start` for SQS, Secrets Manager and STS: the seed scenario
//! of a queue that triggers code which reads a secret, in one account and region.

use e2e::{Emulator, have_aws};

#[test]
fn queue_and_secret_with_the_aws_cli() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let url = emu.aws_json(&["sqs", "create-queue", "--queue-name", "test-queue"])["QueueUrl"]
        .as_str()
        .expect("QueueUrl")
        .to_owned();
    assert!(url.ends_with("/000000000000/test-queue"), "{url}");
    let listed = emu.aws_json(&["sqs", "list-queues"]);
    assert_eq!(listed["QueueUrls"][0], url.as_str());
    let sent = emu.aws_json(&[
        "sqs",
        "send-message",
        "--queue-url",
        &url,
        "--message-body",
        "order-42",
    ]);
    assert_eq!(sent["MD5OfMessageBody"], "4f416b0c12aa8c754209da955fb755cc");
    let got = emu.aws_json(&[
        "sqs",
        "receive-message",
        "--queue-url",
        &url,
        "--attribute-names",
        "All",
    ]);
    let msg = &got["Messages"][0];
    assert_eq!(msg["Body"], "order-42");
    assert_eq!(msg["Attributes"]["ApproximateReceiveCount"], "1");
    let receipt = msg["ReceiptHandle"].as_str().expect("receipt");
    emu.aws_ok(&[
        "sqs",
        "delete-message",
        "--queue-url",
        &url,
        "--receipt-handle",
        receipt,
    ]);
    let attrs = emu.aws_json(&[
        "sqs",
        "get-queue-attributes",
        "--queue-url",
        &url,
        "--attribute-names",
        "All",
    ]);
    assert_eq!(attrs["Attributes"]["ApproximateNumberOfMessages"], "0");
    assert_eq!(
        attrs["Attributes"]["QueueArn"],
        "arn:aws:sqs:us-east-1:000000000000:test-queue"
    );

    let created = emu.aws_json(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "db/password",
        "--secret-string",
        "s3cr3t",
    ]);
    let arn = created["ARN"].as_str().expect("ARN");
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-"),
        "{arn}"
    );
    let value = emu.aws_json(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "db/password",
    ]);
    assert_eq!(value["SecretString"], "s3cr3t");
    assert_eq!(value["VersionStages"][0], "AWSCURRENT");
    emu.aws_json(&[
        "secretsmanager",
        "put-secret-value",
        "--secret-id",
        arn,
        "--secret-string",
        "rotated",
    ]);
    let value = emu.aws_json(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "db/password",
    ]);
    assert_eq!(value["SecretString"], "rotated");

    let me = emu.aws_json(&["sts", "get-caller-identity"]);
    assert_eq!(me["Account"], "000000000000");
}

#[test]
fn errors_and_exit_codes_of_the_aws_cli() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let (code, err) = emu.aws_err(&["sqs", "get-queue-url", "--queue-name", "missing"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("AWS.SimpleQueueService.NonExistentQueue"),
        "{err}"
    );
    let (_, err) = emu.aws_err(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "missing",
    ]);
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    let (_, err) = emu.aws_err(&[
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::not-an-account:role/x",
        "--role-session-name",
        "s1",
    ]);
    assert!(err.contains("ValidationError"), "{err}");
}
