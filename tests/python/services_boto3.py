"""boto3 end-to-end tests of SQS, Secrets Manager and STS against a running podstack.

The emulator must run with PODSTACK_CLOCK_CONTROL=1: timeouts are tested by moving its
clock (POST /_podstack/clock?advance=N), never by sleeping.
"""

import base64
import hashlib
import json
import os
import struct
import threading
import time
import unittest
import urllib.parse
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = os.environ["PODSTACK_ENDPOINT"]


def client(service, key="test"):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def advance(seconds):
    req = urllib.request.Request(f"{ENDPOINT}/_podstack/clock?advance={seconds}", method="POST")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200


def attr_md5(attrs):
    """The SQS message-attribute MD5, written independently of the emulator."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        enc = lambda b: struct.pack(">I", len(b)) + b
        buf += enc(name.encode()) + enc(a["DataType"].encode())
        if "BinaryValue" in a:
            buf += b"\x02" + enc(a["BinaryValue"])
        else:
            buf += b"\x01" + enc(a["StringValue"].encode())
    return hashlib.md5(buf).hexdigest()


class Sqs(unittest.TestCase):
    def setUp(self):
        self.sqs = client("sqs")
        self.name = f"q{time.time_ns()}"

    def test_send_receive_delete_with_attributes_and_md5(self):
        url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        self.assertIn(f"/000000000000/{self.name}", url)
        attrs = {"s": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes=attrs)
        self.assertEqual(sent["MD5OfMessageBody"], hashlib.md5(b"hello").hexdigest())
        self.assertEqual(sent["MD5OfMessageAttributes"], attr_md5(attrs))
        got = self.sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
        self.assertEqual(got[0]["Body"], "hello")
        self.assertEqual(got[0]["MessageAttributes"]["b"]["BinaryValue"], b"\x00\x01")
        self.assertEqual(got[0]["Attributes"]["ApproximateReceiveCount"], "1")
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        counts = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual((counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]), ("0", "0"))

    def test_visibility_timeout_by_moving_the_clock(self):
        url = self.sqs.create_queue(QueueName=self.name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="m")
        first = self.sqs.receive_message(QueueUrl=url)["Messages"][0]
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        advance(31)
        again = self.sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
        self.assertEqual(again["MessageId"], first["MessageId"])
        self.assertEqual(again["Attributes"]["ApproximateReceiveCount"], "2")
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
        self.assertIn("Messages", self.sqs.receive_message(QueueUrl=url))

    def test_delay_seconds_hold_a_message_back(self):
        url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        self.assertEqual(attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"], "1")
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        advance(61)
        self.assertEqual(self.sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"], "later")

    def test_long_polling_wakes_on_send(self):
        url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        threading.Timer(0.3, lambda: client("sqs").send_message(QueueUrl=url, MessageBody="x")).start()
        t = time.time()
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        self.assertEqual(got["Messages"][0]["Body"], "x")
        self.assertLess(time.time() - t, 5, "long poll returned when the message arrived, not at the timeout")

    def test_fifo_order_dedup_and_group_blocking(self):
        url = self.sqs.create_queue(QueueName=self.name + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        ids = [self.sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="a", MessageDeduplicationId=f"d{i}") for i in range(3)]
        dup = self.sqs.send_message(QueueUrl=url, MessageBody="a0 again", MessageGroupId="a", MessageDeduplicationId="d0")
        self.assertEqual(dup["MessageId"], ids[0]["MessageId"], "a duplicate within 5 minutes is not sent again")
        self.assertLess(int(ids[0]["SequenceNumber"]), int(ids[1]["SequenceNumber"]))
        self.sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b", MessageDeduplicationId="e0")
        first = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        self.assertEqual([m["Body"] for m in first], ["a0"])
        rest = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in rest], ["b0"], "group a is blocked while a0 is in flight")
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        nxt = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in nxt], ["a1", "a2"])
        advance(301)
        again = self.sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a", MessageDeduplicationId="d0")
        self.assertNotEqual(again["MessageId"], ids[0]["MessageId"], "the dedup window is 5 minutes")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sqs.send_message(QueueUrl=url, MessageBody="no group")
        self.assertEqual(e.exception.response["Error"]["Code"], "MissingParameter")

    def test_dead_letter_redrive(self):
        dlq = self.sqs.create_queue(QueueName=self.name + "-dlq")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})
        src = self.sqs.create_queue(QueueName=self.name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        for _ in range(2):
            self.assertIn("Messages", self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0))
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=src))
        moved = self.sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
        self.assertEqual(moved["Body"], "poison")
        self.assertEqual(moved["Attributes"]["DeadLetterQueueSourceArn"].split(":")[-1], self.name)
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"], [src])

    def test_batches_report_failures_per_entry(self):
        url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        res = self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "ok", "MessageBody": "x"}, {"Id": "bad", "MessageBody": "\u0000"}])
        self.assertEqual([s["Id"] for s in res["Successful"]], ["ok"])
        self.assertEqual(res["Failed"][0]["Id"], "bad")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "x", "MessageBody": "a"}] * 2)
        self.assertEqual(e.exception.response["Error"]["Code"], "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        res = self.sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": msgs[0]["ReceiptHandle"]}, {"Id": "b", "ReceiptHandle": "garbage"}])
        self.assertEqual(([s["Id"] for s in res["Successful"]], [f["Id"] for f in res["Failed"]]), (["a"], ["b"]))

    def test_errors_carry_aws_codes(self):
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist) as e:
            self.sqs.get_queue_url(QueueName="no-such-queue")
        self.assertEqual(e.exception.response["Error"]["Code"], "AWS.SimpleQueueService.NonExistentQueue")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sqs.create_queue(QueueName="bad name!")
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidParameterValue")
        url = self.sqs.create_queue(QueueName=self.name, Attributes={"DelaySeconds": "1"})["QueueUrl"]
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sqs.create_queue(QueueName=self.name, Attributes={"DelaySeconds": "2"})
        self.assertEqual(e.exception.response["Error"]["Code"], "QueueAlreadyExists")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99999"})
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidAttributeValue")

    def test_query_protocol_speaks_xml(self):
        url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        form = urllib.parse.urlencode({"Action": "SendMessage", "QueueUrl": url, "MessageBody": "from a form"}).encode()
        req = urllib.request.Request(ENDPOINT + "/", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req) as r:
            body = r.read().decode()
        self.assertIn("<SendMessageResponse", body)
        self.assertIn(hashlib.md5(b"from a form").hexdigest(), body)
        form = urllib.parse.urlencode({"Action": "GetQueueUrl", "QueueName": "missing"}).encode()
        req = urllib.request.Request(ENDPOINT + "/", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        self.assertIn("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>", e.exception.read().decode())

    def test_list_tags_purge(self):
        url = self.sqs.create_queue(QueueName=self.name + "-a", tags={"team": "x"})["QueueUrl"]
        self.sqs.create_queue(QueueName=self.name + "-b")
        names = self.sqs.list_queues(QueueNamePrefix=self.name)["QueueUrls"]
        self.assertEqual(len(names), 2)
        page = self.sqs.list_queues(QueueNamePrefix=self.name, MaxResults=1)
        self.assertEqual(len(page["QueueUrls"]), 1)
        self.assertIn("NextToken", page)
        self.sqs.tag_queue(QueueUrl=url, Tags={"k": "v"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"k": "v"})
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        self.sqs.purge_queue(QueueUrl=url)
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))


class Secrets(unittest.TestCase):
    def setUp(self):
        self.sm = client("secretsmanager")
        self.name = f"app/db-{time.time_ns()}"

    def stages(self):
        return self.sm.describe_secret(SecretId=self.name)["VersionIdsToStages"]

    def test_versions_and_staging_labels(self):
        c = self.sm.create_secret(Name=self.name, SecretString="v1", Tags=[{"Key": "env", "Value": "dev"}])
        self.assertRegex(c["ARN"], r":secret:" + self.name + r"-[A-Za-z0-9]{6}$")
        v2 = self.sm.put_secret_value(SecretId=c["ARN"], SecretString="v2")["VersionId"]
        self.assertEqual(self.stages()[c["VersionId"]], ["AWSPREVIOUS"])
        self.assertEqual(self.stages()[v2], ["AWSCURRENT"])
        self.assertEqual(self.sm.get_secret_value(SecretId=self.name, VersionStage="AWSPREVIOUS")["SecretString"], "v1")
        v3 = self.sm.put_secret_value(SecretId=self.name, SecretString="v3", VersionStages=["AWSPENDING"])["VersionId"]
        self.assertEqual(self.sm.get_secret_value(SecretId=self.name)["SecretString"], "v2")
        self.sm.update_secret_version_stage(SecretId=self.name, VersionStage="AWSCURRENT", MoveToVersionId=v3, RemoveFromVersionId=v2)
        st = self.stages()
        self.assertEqual(sorted(st[v3]), ["AWSCURRENT", "AWSPENDING"])
        self.assertEqual(st[v2], ["AWSPREVIOUS"])
        self.assertNotIn(c["VersionId"], st)
        versions = self.sm.list_secret_version_ids(SecretId=self.name, IncludeDeprecated=True)["Versions"]
        self.assertEqual(len(versions), 3)
        self.sm.update_secret(SecretId=self.name, Description="d", SecretString="v4")
        self.assertEqual(self.sm.get_secret_value(SecretId=self.name)["SecretString"], "v4")
        self.assertEqual(self.sm.describe_secret(SecretId=self.name)["Description"], "d")

    def test_binary_batch_list_and_tags(self):
        self.sm.create_secret(Name=self.name, SecretBinary=b"\x00\xff")
        self.assertEqual(self.sm.get_secret_value(SecretId=self.name)["SecretBinary"], b"\x00\xff")
        self.sm.tag_resource(SecretId=self.name, Tags=[{"Key": "team", "Value": "t1"}])
        listed = self.sm.list_secrets(Filters=[{"Key": "name", "Values": [self.name]}])["SecretList"]
        self.assertEqual([s["Name"] for s in listed], [self.name])
        self.assertEqual(listed[0]["Tags"], [{"Key": "team", "Value": "t1"}])
        self.sm.untag_resource(SecretId=self.name, TagKeys=["team"])
        batch = self.sm.batch_get_secret_value(SecretIdList=[self.name, "missing-secret"])
        self.assertEqual([v["Name"] for v in batch["SecretValues"]], [self.name])
        self.assertEqual(batch["Errors"][0]["ErrorCode"], "ResourceNotFoundException")

    def test_deletion_window_restore_and_force(self):
        self.sm.create_secret(Name=self.name, SecretString="x")
        d = self.sm.delete_secret(SecretId=self.name, RecoveryWindowInDays=7)
        self.assertIn("DeletionDate", d)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sm.get_secret_value(SecretId=self.name)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidRequestException")
        self.sm.restore_secret(SecretId=self.name)
        self.assertEqual(self.sm.get_secret_value(SecretId=self.name)["SecretString"], "x")
        self.sm.delete_secret(SecretId=self.name, RecoveryWindowInDays=7)
        advance(7 * 86400 + 1)
        with self.assertRaises(self.sm.exceptions.ResourceNotFoundException):
            self.sm.get_secret_value(SecretId=self.name)
        self.sm.create_secret(Name=self.name, SecretString="new")
        self.sm.delete_secret(SecretId=self.name, ForceDeleteWithoutRecovery=True)
        with self.assertRaises(self.sm.exceptions.ResourceNotFoundException):
            self.sm.describe_secret(SecretId=self.name)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.sm.delete_secret(SecretId="x", RecoveryWindowInDays=3)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidParameterException")

    def test_random_password(self):
        pw = self.sm.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"]
        self.assertEqual(len(pw), 40)
        self.assertTrue(pw.isalnum())
        self.assertTrue(any(c.isdigit() for c in pw) and any(c.isupper() for c in pw) and any(c.islower() for c in pw))


class Sts(unittest.TestCase):
    def test_identity_and_assumed_roles_map_to_accounts(self):
        self.assertEqual(client("sts").get_caller_identity()["Account"], "000000000000")
        self.assertEqual(client("sts", key="111122223333").get_caller_identity()["Account"], "111122223333")
        creds = client("sts").assume_role(RoleArn="arn:aws:iam::444455556666:role/deployer", RoleSessionName="ci-run")["Credentials"]
        s3 = boto3.client(
            "s3",
            endpoint_url=ENDPOINT,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        sts = boto3.client("sts", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
        me = sts.get_caller_identity()
        self.assertEqual((me["Account"], me["Arn"]), ("444455556666", "arn:aws:sts::444455556666:assumed-role/deployer/ci-run"))
        bucket = f"role-bucket-{time.time_ns()}"
        s3.create_bucket(Bucket=bucket)
        self.assertIn(bucket, [b["Name"] for b in s3.list_buckets()["Buckets"]])
        self.assertNotIn(bucket, [b["Name"] for b in client("s3").list_buckets()["Buckets"]], "state is per account")
        token = client("sts").get_session_token(DurationSeconds=900)["Credentials"]
        self.assertTrue(token["AccessKeyId"].startswith("ASIA"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
