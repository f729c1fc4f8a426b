#!/usr/bin/env python3
"""Checks, through the AWS APIs (boto3), an emulator into which tests/tests/golden_pods.rs
loaded a golden pod made by make_golden.py.

    check_golden.py PHASE STS_KEYS_JSON COMMIT_TIME [unittest arguments]

PHASE is how long after the pod was made it was loaded, which decides what the load rules
dropped: `fresh` (60 s), `3d`, `8d` or `30d`. STS_KEYS_JSON lists the access key ids of the
temporary credentials in the pod (the API cannot list them); COMMIT_TIME is the pod's commit
time (Unix seconds, the emulator clock of make_golden.py). The endpoint is PODSTACK_ENDPOINT.

Every expected value is written out here, independently of make_golden.py: a loader that
drops or changes anything fails a check. Ids the emulator made at random (S3 version and
upload ids, message ids, access keys) are found through the API and then checked.
"""

import base64
import hashlib
import json
import os
import sys
import unittest
import urllib.request
import zlib

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("PODSTACK_ENDPOINT", "http://127.0.0.1:4566")
if len(sys.argv) < 4 or sys.argv[1] not in ("fresh", "3d", "8d", "30d"):
    sys.exit("usage: check_golden.py fresh|3d|8d|30d STS_KEYS_JSON COMMIT_TIME [unittest args]")
PHASE = sys.argv[1]
STS_KEYS = json.loads(sys.argv[2])
COMMIT_TIME = int(sys.argv[3])
del sys.argv[1:4]

# make_golden.py moves the clock here first; every SQS, Secrets Manager and STS time of the
# pod lies between it and the commit.
EPOCH = 4_102_444_800  # 2100-01-01T00:00:00Z
A, B, C = "000000000000", "111111111111", "222222222222"
MIB = 1024 * 1024

PART_1 = b"golden-part-1.\n" * (5 * MIB // 15 + 1)
PART_2 = b"golden-part-2: the tail\n"
SHA_PART_2 = b"golden-part-2: the sha-256 tail\n"
OPEN_1 = b"golden-open-1.\n" * (5 * MIB // 15 + 1)
OPEN_3 = b"golden-open-3: last part\n"
FULL_1 = b"golden-full-object: the only part\n"
KEPT = b"kept\n"
UNICODE_KEY = "dir/sub dir/\u00fcn\u00efc\u00f6d\u00e9 + key.json"

PLAIN_OBJECTS = {
    # key: (body, content type, user metadata, tags, checksum (algorithm, of what))
    "100% golden.txt": (b"a key with a percent sign\n", "binary/octet-stream", {}, {}, "CRC32"),
    "checksummed.bin": (b"checksum me\n", "binary/octet-stream", {}, {}, "SHA256"),
    "copy-of-hello.txt": (
        b"hello, golden pod\n",
        "text/plain; charset=utf-8",
        {"owner": "golden", "purpose": "fixture"},
        {"kind": "greeting", "lang": "en"},
        "CRC32",
    ),
    UNICODE_KEY: (b'{"golden": true}\n', "application/json", {}, {}, "CRC32"),
    "empty": (b"", "binary/octet-stream", {}, {}, "CRC32"),
    "hello.txt": (
        b"hello, golden pod\n",
        "text/plain; charset=utf-8",
        {"owner": "golden", "purpose": "fixture"},
        {"kind": "greeting", "lang": "en"},
        "CRC32",
    ),
    "multipart.bin": (PART_1 + PART_2, "application/x-golden", {"parts": "2"}, {}, None),
    "multipart-sha256.bin": (PART_1 + SHA_PART_2, "binary/octet-stream", {}, {}, None),
}

BUCKETS = {
    # (access key, client region): {bucket: region}
    ("test", "us-east-1"): {
        "golden-plain": "us-east-1",
        "golden-suspended": "us-east-1",
        "golden-versioned": "us-east-1",
        "golden-west": "us-west-2",
    },
    (B, "eu-west-1"): {"golden-b-eu": "eu-west-1", "golden-b-us": "us-east-1"},
    (C, "ap-southeast-2"): {"golden-c-ap": "ap-southeast-2"},
}

OTHER_OBJECTS = {
    # (access key, region, bucket, key): (body, metadata)
    ("test", "us-west-2", "golden-west", "west.txt"): (b"from us-west-2\n", {}),
    (B, "eu-west-1", "golden-b-eu", "eu.txt"): (b"account B in eu-west-1\n", {"account": "b"}),
    (B, "us-east-1", "golden-b-us", "us.txt"): (b"account B in us-east-1\n", {}),
    (C, "ap-southeast-2", "golden-c-ap", "from-role.txt"): (b"written with assumed-role credentials\n", {}),
}

ORDERS_ARN = f"arn:aws:sqs:us-east-1:{A}:golden-orders"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{A}:golden-dlq"
FIFO_ARN = f"arn:aws:sqs:us-east-1:{A}:golden-events.fifo"

# Attributes GetQueueAttributes(All) shows, but for the Approximate* counts and the two
# timestamps (checked apart).
QUEUE_ATTRIBUTES = {
    ("test", "us-east-1", "golden-dlq"): {
        "DelaySeconds": "0",
        "MaximumMessageSize": "262144",
        "MessageRetentionPeriod": "1209600",
        "QueueArn": DLQ_ARN,
        "ReceiveMessageWaitTimeSeconds": "0",
        "RedriveAllowPolicy": '{"redrivePermission":"allowAll"}',
        "SqsManagedSseEnabled": "true",
        "VisibilityTimeout": "30",
    },
    ("test", "us-east-1", "golden-orders"): {
        "DelaySeconds": "2",
        "MaximumMessageSize": "65536",
        "MessageRetentionPeriod": "172800",
        "Policy": '{"Version":"2012-10-17","Statement":[{"Sid":"GoldenSend","Effect":"Allow","Principal":"*",'
        '"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:000000000000:golden-orders"}]}',
        "QueueArn": ORDERS_ARN,
        "ReceiveMessageWaitTimeSeconds": "0",
        "RedrivePolicy": '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:golden-dlq","maxReceiveCount":2}',
        "SqsManagedSseEnabled": "true",
        "VisibilityTimeout": "45",
    },
    ("test", "us-east-1", "golden-events.fifo"): {
        "ContentBasedDeduplication": "true",
        "DeduplicationScope": "queue",
        "DelaySeconds": "0",
        "FifoQueue": "true",
        "FifoThroughputLimit": "perQueue",
        "MaximumMessageSize": "262144",
        "MessageRetentionPeriod": "345600",
        "QueueArn": FIFO_ARN,
        "ReceiveMessageWaitTimeSeconds": "0",
        "SqsManagedSseEnabled": "true",
        "VisibilityTimeout": "30",
    },
    (B, "eu-west-1", "golden-b-queue"): {
        "DelaySeconds": "0",
        "MaximumMessageSize": "262144",
        "MessageRetentionPeriod": "345600",
        "QueueArn": f"arn:aws:sqs:eu-west-1:{B}:golden-b-queue",
        "ReceiveMessageWaitTimeSeconds": "0",
        "SqsManagedSseEnabled": "true",
        "VisibilityTimeout": "30",
    },
    (C, "ap-southeast-2", "golden-c-queue"): {
        "DelaySeconds": "0",
        "MaximumMessageSize": "262144",
        "MessageRetentionPeriod": "345600",
        "QueueArn": f"arn:aws:sqs:ap-southeast-2:{C}:golden-c-queue",
        "ReceiveMessageWaitTimeSeconds": "0",
        "SqsManagedSseEnabled": "true",
        "VisibilityTimeout": "120",
    },
}

QUEUE_TAGS = {
    "golden-dlq": {},
    "golden-orders": {"env": "fixture", "team": "golden"},
    "golden-events.fifo": {"kind": "fifo"},
    "golden-b-queue": {"account": "b"},
    "golden-c-queue": {},
}

# The FIFO messages in the order they were sent, with their groups; the first three were in
# flight when the pod was made (received once), in this order: alpha-1, alpha-2, beta-1.
FIFO_SENT = [
    ("alpha-1", "g-alpha"),
    ("beta-1", "g-beta"),
    ("alpha-2", "g-alpha"),
    ("gamma-1", "g-gamma"),
    ("beta-2", "g-beta"),
    ("alpha-3", "g-alpha"),
]
FIFO_IN_FLIGHT = {"alpha-1", "alpha-2", "beta-1"}

DB = "golden/db-password"


def tok(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def db_value(n):
    return '{"user":"golden","password":"not-a-real-password-%d"}' % n


DB_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},'
    '"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}'
)

# (Account, Arn, UserId pattern) of each temporary credential in the pod.
IDENTITIES = sorted(
    [
        (C, f"arn:aws:sts::{C}:assumed-role/golden-role/golden-session", r"AROA[A-Z0-9]{17}:golden-session"),
        (C, f"arn:aws:sts::{C}:assumed-role/golden-role/golden-session", r"AROA[A-Z0-9]{17}:golden-session"),
        (B, f"arn:aws:iam::{B}:root", r"111111111111"),
    ]
)

S3_BUCKET_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"GoldenRead","Effect":"Allow","Principal":"*",'
    '"Action":"s3:GetObject","Resource":"arn:aws:s3:::golden-plain/*"}]}'
)


def client(service, key="test", region="us-east-1", secret="test", token=None):
    extra = {"s3": {"addressing_style": "path"}} if service == "s3" else {}
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **extra),
    )


def advance_clock(seconds):
    req = urllib.request.Request(f"{ENDPOINT}/_podstack/clock?advance={seconds}", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200


def md5(data):
    return hashlib.md5(data).hexdigest()


def b64(data):
    return base64.b64encode(data).decode()


def checksum(algorithm, data):
    if algorithm == "CRC32":
        return b64((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big"))
    if algorithm == "SHA256":
        return b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


def tags_of(tag_set):
    return {t["Key"]: t["Value"] for t in tag_set}


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded")


def ts(dt):
    return dt.timestamp()


class Checks(unittest.TestCase):
    """Checks shared by the phases. Tests run in name order (unittest sorts them), and later
    ones may change what earlier ones checked (complete the upload, take messages)."""

    maxDiff = None

    def assert_pod_time(self, t, what):
        """A time of the pod's SQS, Secrets Manager or STS state (Unix seconds)."""
        self.assertTrue(EPOCH <= t <= COMMIT_TIME + 1, f"{what} = {t} is not within the making of the pod")

    def assert_pod_time_s3(self, t, what):
        """A time of the pod's S3 state: S3 reads the system clock, not the emulator's, so
        these are the real time of the making, before the commit's clock time."""
        self.assertTrue(1_700_000_000 < t < COMMIT_TIME, f"{what} = {t}")

    def queue_url(self, name, key="test", region="us-east-1"):
        return client("sqs", key, region).get_queue_url(QueueName=name)["QueueUrl"]

    def receive_all(self, name, key="test", region="us-east-1", **kw):
        sqs = client("sqs", key, region)
        r = sqs.receive_message(
            QueueUrl=self.queue_url(name, key, region),
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            **kw,
        )
        return r.get("Messages", [])

    def check_s3_buckets(self):
        for (key, region), buckets in BUCKETS.items():
            s3 = client("s3", key, region)
            listed = {b["Name"]: b["BucketRegion"] for b in s3.list_buckets()["Buckets"]}
            self.assertEqual(listed, buckets, f"buckets of {key}")
            for name, where in buckets.items():
                loc = client("s3", key, where).get_bucket_location(Bucket=name)["LocationConstraint"]
                self.assertEqual(loc, None if where == "us-east-1" else where, name)

    def check_s3_bodies(self):
        s3 = client("s3")
        for k, (body, *_rest) in PLAIN_OBJECTS.items():
            got = s3.get_object(Bucket="golden-plain", Key=k)["Body"].read()
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(body).hexdigest(), k)
        for (key, region, bucket, k), (body, meta) in OTHER_OBJECTS.items():
            r = client("s3", key, region).get_object(Bucket=bucket, Key=k)
            self.assertEqual((r["Body"].read(), r["Metadata"]), (body, meta), f"{bucket}/{k}")

    def check_queues(self, counts):
        """Every queue with its attributes and tags; `counts` is {queue: (visible, delayed)}."""
        listed = {}
        for key, region in [("test", "us-east-1"), ("test", "us-west-2"), (B, "eu-west-1"), (C, "ap-southeast-2")]:
            urls = client("sqs", key, region).list_queues().get("QueueUrls", [])
            listed[(key, region)] = sorted(u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in urls)
        self.assertEqual(
            listed,
            {
                ("test", "us-east-1"): [f"{A}/golden-dlq", f"{A}/golden-events.fifo", f"{A}/golden-orders"],
                ("test", "us-west-2"): [],
                (B, "eu-west-1"): [f"{B}/golden-b-queue"],
                (C, "ap-southeast-2"): [f"{C}/golden-c-queue"],
            },
        )
        for (key, region, name), expected in QUEUE_ATTRIBUTES.items():
            sqs = client("sqs", key, region)
            url = self.queue_url(name, key, region)
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            created = int(attrs.pop("CreatedTimestamp"))
            modified = int(attrs.pop("LastModifiedTimestamp"))
            self.assert_pod_time(created, f"{name} CreatedTimestamp")
            self.assertEqual(modified, created, name)
            visible = int(attrs.pop("ApproximateNumberOfMessages"))
            delayed = int(attrs.pop("ApproximateNumberOfMessagesDelayed"))
            in_flight = int(attrs.pop("ApproximateNumberOfMessagesNotVisible"))
            self.assertEqual(attrs, expected, name)
            self.assertEqual((visible, delayed, in_flight), (*counts[name], 0), f"{name}: messages after the load")
            self.assertEqual(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), QUEUE_TAGS[name], name)

    def check_fifo_messages_in_group_order(self, receive_counts):
        """The six FIFO messages come back in group order; returns them by body."""
        got = self.receive_all("golden-events.fifo")
        bodies = [m["Body"] for m in got]
        self.assertEqual(bodies, ["alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2", "gamma-1"])
        by_body = {m["Body"]: m for m in got}
        groups = dict(FIFO_SENT)
        for body, m in by_body.items():
            a = m["Attributes"]
            self.assertEqual(a["MessageGroupId"], groups[body], body)
            self.assertEqual(
                a["MessageDeduplicationId"],
                "gamma-dedup-1" if body == "gamma-1" else hashlib.sha256(body.encode()).hexdigest(),
                body,
            )
            self.assertEqual(a["SenderId"], "test", body)
            self.assertEqual(a["ApproximateReceiveCount"], str(receive_counts[body]), body)
            self.assert_pod_time(int(a["SentTimestamp"]) / 1000, f"{body} SentTimestamp")
            first = int(a["ApproximateFirstReceiveTimestamp"]) / 1000
            if body in FIFO_IN_FLIGHT:
                self.assert_pod_time(first, f"{body} first receive (before the pod was made)")
            else:
                self.assertGreater(first, COMMIT_TIME, f"{body} was first received after the load")
            self.assertEqual(m["MD5OfBody"], md5(body.encode()), body)
        seqs = [int(by_body[b]["Attributes"]["SequenceNumber"]) for b, _ in FIFO_SENT]
        self.assertEqual(seqs, sorted(seqs), "sequence numbers follow the order of sending")
        self.assertEqual(len(set(seqs)), len(seqs))
        sent = [int(by_body[b]["Attributes"]["SentTimestamp"]) for b, _ in FIFO_SENT]
        self.assertEqual(sent, sorted(sent))
        gamma = by_body["gamma-1"]
        self.assertEqual(gamma["MessageAttributes"], {"priority": {"StringValue": "7", "DataType": "Number"}})
        for body in ["alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2"]:
            self.assertNotIn("MessageAttributes", by_body[body], body)
        return by_body

    def check_secrets_listed(self, retired):
        names = sorted(s["Name"] for s in client("secretsmanager").list_secrets(IncludePlannedDeletion=True)["SecretList"])
        expected = ["golden/db-password", "golden/no-value", "golden/rotated", "golden/tls-key"]
        if retired:
            expected.append("golden/retired")
        self.assertEqual(names, sorted(expected))
        names = sorted(s["Name"] for s in client("secretsmanager").list_secrets()["SecretList"])
        self.assertEqual(names, ["golden/db-password", "golden/no-value", "golden/rotated", "golden/tls-key"], "without planned deletions")
        b = client("secretsmanager", B, "eu-west-1").list_secrets()["SecretList"]
        self.assertEqual([s["Name"] for s in b], ["golden-b/api-token"])
        self.assertEqual(client("secretsmanager", "test", "us-west-2").list_secrets()["SecretList"], [])

    def check_secret_values(self):
        sm = client("secretsmanager")
        d = sm.describe_secret(SecretId=DB)
        self.assertRegex(d["ARN"], r"^arn:aws:secretsmanager:us-east-1:000000000000:secret:golden/db-password-[A-Za-z0-9]{6}$")
        self.assertEqual(d["Description"], "golden fixture: a secret with several versions")
        self.assertEqual(d["KmsKeyId"], "alias/golden-fixture")
        self.assertEqual(
            d["Tags"],
            [{"Key": "env", "Value": "fixture"}, {"Key": "team", "Value": "golden"}, {"Key": "rotation", "Value": "manual"}],
        )
        self.assertEqual(
            d["VersionIdsToStages"],
            {tok(1): ["AWSPREVIOUS", "GOLDEN-PINNED"], tok(2): ["AWSCURRENT"], tok(3): ["GOLDEN-PENDING"]},
        )
        self.assertNotIn("DeletedDate", d)
        self.assert_pod_time(ts(d["CreatedDate"]), "CreatedDate")
        self.assert_pod_time(ts(d["LastChangedDate"]), "LastChangedDate")
        # Accessed on the day of the pod (Secrets Manager keeps the day only).
        accessed = ts(d["LastAccessedDate"])
        self.assertEqual(accessed % 86400, 0)
        self.assertTrue(EPOCH - 86400 < accessed <= COMMIT_TIME, accessed)
        for n in (1, 2, 3):
            v = sm.get_secret_value(SecretId=DB, VersionId=tok(n))
            self.assertEqual((v["VersionId"], v["SecretString"]), (tok(n), db_value(n)))
            self.assert_pod_time(ts(v["CreatedDate"]), f"version {n} CreatedDate")
        for stage, n in [("AWSCURRENT", 2), ("AWSPREVIOUS", 1), ("GOLDEN-PINNED", 1), ("GOLDEN-PENDING", 3)]:
            v = sm.get_secret_value(SecretId=DB, VersionStage=stage)
            self.assertEqual((v["VersionId"], v["SecretString"]), (tok(n), db_value(n)), stage)
        self.assertEqual(sm.get_secret_value(SecretId=DB)["VersionId"], tok(2))
        self.assertEqual(sm.get_secret_value(SecretId=d["ARN"])["SecretString"], db_value(2))
        versions = sm.list_secret_version_ids(SecretId=DB, IncludeDeprecated=True)["Versions"]
        self.assertEqual(
            [(v["VersionId"], v["VersionStages"]) for v in versions],
            [(tok(3), ["GOLDEN-PENDING"]), (tok(2), ["AWSCURRENT"]), (tok(1), ["AWSPREVIOUS", "GOLDEN-PINNED"])],
        )
        self.assertEqual(sm.get_resource_policy(SecretId=DB)["ResourcePolicy"], DB_POLICY)
        tls = sm.get_secret_value(SecretId="golden/tls-key")
        self.assertEqual((tls["VersionId"], tls["SecretBinary"]), (tok(11), b"\x00\x01\x02golden-binary\xfe\xff"))
        self.assertNotIn("SecretString", tls)
        self.assertEqual(sm.describe_secret(SecretId="golden/tls-key")["Tags"], [{"Key": "kind", "Value": "binary"}])
        rotated = sm.list_secret_version_ids(SecretId="golden/rotated", IncludeDeprecated=True)["Versions"]
        self.assertEqual(
            [(v["VersionId"], v["VersionStages"]) for v in rotated],
            [(tok(43), ["AWSCURRENT"]), (tok(42), ["AWSPREVIOUS"]), (tok(41), [])],
        )
        rotated = sm.list_secret_version_ids(SecretId="golden/rotated")["Versions"]
        self.assertEqual([v["VersionId"] for v in rotated], [tok(43), tok(42)], "without the deprecated version")
        for n in (41, 42, 43):
            self.assertEqual(sm.get_secret_value(SecretId="golden/rotated", VersionId=tok(n))["SecretString"], f"rotated-{n}")
        self.assertEqual(sm.get_secret_value(SecretId="golden/rotated")["SecretString"], "rotated-43")
        nv = sm.describe_secret(SecretId="golden/no-value")
        self.assertEqual(nv["Description"], "golden fixture: a secret without a value")
        self.assertNotIn("VersionIdsToStages", nv)
        self.assertEqual(error_code(sm.get_secret_value, SecretId="golden/no-value"), "ResourceNotFoundException")
        bsm = client("secretsmanager", B, "eu-west-1")
        bv = bsm.get_secret_value(SecretId="golden-b/api-token")
        self.assertEqual((bv["VersionId"], bv["SecretString"], bv["VersionStages"]), (tok(31), "b-token-value", ["AWSCURRENT"]))
        self.assertRegex(bv["ARN"], r"^arn:aws:secretsmanager:eu-west-1:111111111111:secret:golden-b/api-token-[A-Za-z0-9]{6}$")
        self.assertEqual(bsm.describe_secret(SecretId="golden-b/api-token")["Tags"], [{"Key": "account", "Value": "b"}])
        # Account A does not see account B's secret.
        self.assertEqual(error_code(sm.describe_secret, SecretId="golden-b/api-token"), "ResourceNotFoundException")

    def check_retired_restorable(self):
        sm = client("secretsmanager")
        d = sm.describe_secret(SecretId="golden/retired")
        deleted = ts(d["DeletedDate"])
        self.assert_pod_time(deleted, "DeletedDate")
        self.assertGreaterEqual(deleted, ts(d["CreatedDate"]))
        self.assertEqual(d["VersionIdsToStages"], {tok(21): ["AWSCURRENT"]})
        self.assertEqual(error_code(sm.get_secret_value, SecretId="golden/retired"), "InvalidRequestException")
        sm.restore_secret(SecretId="golden/retired")
        self.assertNotIn("DeletedDate", sm.describe_secret(SecretId="golden/retired"))
        self.assertEqual(sm.get_secret_value(SecretId="golden/retired")["SecretString"], "retired-value")

    def check_credentials_expired(self):
        self.assertEqual(len(STS_KEYS), len(IDENTITIES))
        for key in STS_KEYS:
            who = client("sts", key).get_caller_identity()
            self.assertEqual((who["Account"], who["Arn"]), (A, f"arn:aws:iam::{A}:root"), f"{key} has expired")


class Fresh(Checks):
    """Loaded 60 s after the pod was made: nothing has expired."""

    def test_01_s3_buckets_per_account_and_region(self):
        self.check_s3_buckets()

    def test_02_s3_objects_bodies_metadata_and_tags(self):
        s3 = client("s3")
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="golden-plain")["Contents"]]
        self.assertEqual(listed, sorted(PLAIN_OBJECTS))
        for k, (body, ctype, meta, tags, algorithm) in PLAIN_OBJECTS.items():
            r = s3.get_object(Bucket="golden-plain", Key=k, ChecksumMode="ENABLED")
            got = r["Body"].read()
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(body).hexdigest(), k)
            self.assertEqual((r["ContentLength"], r["ContentType"], r["Metadata"]), (len(body), ctype, meta), k)
            if algorithm:
                self.assertEqual(r[f"Checksum{algorithm}"], checksum(algorithm, body), k)
                self.assertEqual(r["ETag"], f'"{md5(body)}"', k)
            self.assertEqual(tags_of(s3.get_object_tagging(Bucket="golden-plain", Key=k)["TagSet"]), tags, k)
        h = s3.head_object(Bucket="golden-plain", Key=UNICODE_KEY)
        self.assertEqual(
            {k: h.get(k) for k in ["CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "StorageClass", "WebsiteRedirectLocation", "ExpiresString"]},
            {
                "CacheControl": "max-age=60",
                "ContentDisposition": 'attachment; filename="golden.json"',
                "ContentEncoding": "identity",
                "ContentLanguage": "en-GB",
                "StorageClass": "STANDARD_IA",
                "WebsiteRedirectLocation": "/hello.txt",
                "ExpiresString": "Tue, 01 Jan 2030 00:00:00 GMT",
            },
        )
        self.assertNotIn("StorageClass", s3.head_object(Bucket="golden-plain", Key="hello.txt"))
        self.check_s3_bodies()

    def test_03_s3_completed_multipart_object_keeps_its_parts(self):
        s3 = client("s3")
        etag = hashlib.md5(hashlib.md5(PART_1).digest() + hashlib.md5(PART_2).digest()).hexdigest() + "-2"
        a = s3.get_object_attributes(
            Bucket="golden-plain", Key="multipart.bin", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"]
        )
        self.assertEqual((a["ETag"], a["ObjectSize"]), (etag, len(PART_1) + len(PART_2)))
        self.assertEqual(
            [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in a["ObjectParts"]["Parts"]],
            [(1, len(PART_1), checksum("CRC32", PART_1)), (2, len(PART_2), checksum("CRC32", PART_2))],
        )
        p2 = s3.get_object(Bucket="golden-plain", Key="multipart.bin", PartNumber=2)
        self.assertEqual((p2["Body"].read(), p2["PartsCount"]), (PART_2, 2))
        self.assertNotIn("Checksum", a, "no object checksum without a checksum algorithm")

        # SHA-256 parts: a composite checksum, the SHA-256 of the parts' digests.
        a = s3.get_object_attributes(
            Bucket="golden-plain", Key="multipart-sha256.bin", ObjectAttributes=["ETag", "Checksum", "ObjectParts"]
        )
        composite = b64(hashlib.sha256(hashlib.sha256(PART_1).digest() + hashlib.sha256(SHA_PART_2).digest()).digest())
        self.assertEqual(a["Checksum"], {"ChecksumSHA256": f"{composite}-2", "ChecksumType": "COMPOSITE"})
        etag = hashlib.md5(hashlib.md5(PART_1).digest() + hashlib.md5(SHA_PART_2).digest()).hexdigest() + "-2"
        self.assertEqual(a["ETag"], etag)
        self.assertEqual(
            [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in a["ObjectParts"]["Parts"]],
            [(1, len(PART_1), checksum("SHA256", PART_1)), (2, len(SHA_PART_2), checksum("SHA256", SHA_PART_2))],
        )

    def test_04_s3_versions_and_delete_markers(self):
        s3 = client("s3")
        self.assertEqual(s3.get_bucket_versioning(Bucket="golden-versioned")["Status"], "Enabled")
        r = s3.list_object_versions(Bucket="golden-versioned")
        versions = [(v["Key"], v["IsLatest"], v["Size"], v["ETag"]) for v in r["Versions"]]
        bodies = [f"doc version {n}\n".encode() for n in (3, 2, 1)] + [b"doc version 0 (null)\n"]
        self.assertEqual(
            versions,
            [("doc.txt", False, len(b), f'"{md5(b)}"') for b in bodies] + [("kept.txt", True, 5, f'"{md5(KEPT)}"')],
        )
        self.assertEqual(r["Versions"][3]["VersionId"], "null")
        markers = [(m["Key"], m["IsLatest"]) for m in r["DeleteMarkers"]]
        self.assertEqual(markers, [("doc.txt", True), ("only-marker.txt", True)])
        ids = [v["VersionId"] for v in r["Versions"][:4]]
        self.assertEqual(len(set(ids + [m["VersionId"] for m in r["DeleteMarkers"]])), 6)
        for vid, body, n in zip(ids, bodies, (3, 2, 1, None)):
            g = s3.get_object(Bucket="golden-versioned", Key="doc.txt", VersionId=vid)
            self.assertEqual((g["Body"].read(), g["VersionId"]), (body, vid))
            self.assertEqual(g["Metadata"], {"rev": str(n)} if n else {}, vid)
            t = s3.get_object_tagging(Bucket="golden-versioned", Key="doc.txt", VersionId=vid)["TagSet"]
            self.assertEqual(tags_of(t), {"rev": str(n)} if n else {}, vid)
        self.assertEqual(error_code(s3.get_object, Bucket="golden-versioned", Key="doc.txt"), "NoSuchKey")
        self.assertEqual(s3.get_object(Bucket="golden-versioned", Key="kept.txt")["Body"].read(), b"kept\n")
        s3.delete_object(Bucket="golden-versioned", Key="doc.txt", VersionId=r["DeleteMarkers"][0]["VersionId"])
        self.assertEqual(s3.get_object(Bucket="golden-versioned", Key="doc.txt")["Body"].read(), b"doc version 3\n")

        self.assertEqual(s3.get_bucket_versioning(Bucket="golden-suspended")["Status"], "Suspended")
        r = s3.list_object_versions(Bucket="golden-suspended")
        self.assertNotIn("DeleteMarkers", r)
        self.assertEqual(
            [(v["Key"], v["VersionId"] == "null", v["IsLatest"]) for v in r["Versions"]],
            [("a.txt", True, True), ("a.txt", False, False)],
        )
        old = s3.get_object(Bucket="golden-suspended", Key="a.txt", VersionId=r["Versions"][1]["VersionId"])
        self.assertEqual(old["Body"].read(), b"a while enabled\n")
        self.assertEqual(s3.get_object(Bucket="golden-suspended", Key="a.txt")["Body"].read(), b"a while suspended\n")

    def test_05_s3_bucket_configurations(self):
        s3 = client("s3")
        self.assertEqual(s3.get_bucket_policy(Bucket="golden-plain")["Policy"], S3_BUCKET_POLICY)
        self.assertEqual(
            s3.get_bucket_cors(Bucket="golden-plain")["CORSRules"],
            [
                {
                    "AllowedHeaders": ["*"],
                    "AllowedMethods": ["GET", "PUT"],
                    "AllowedOrigins": ["https://golden.example"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 300,
                }
            ],
        )
        self.assertEqual(
            s3.get_bucket_lifecycle_configuration(Bucket="golden-plain")["Rules"],
            [{"Expiration": {"Days": 7}, "ID": "expire-tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled"}],
        )
        n = s3.get_bucket_notification_configuration(Bucket="golden-plain")
        n.pop("ResponseMetadata")
        self.assertEqual(
            n,
            {
                "QueueConfigurations": [
                    {"Id": "golden-notify", "QueueArn": ORDERS_ARN, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        self.assertEqual(
            s3.get_bucket_tagging(Bucket="golden-plain")["TagSet"],
            [{"Key": "project", "Value": "podstack"}, {"Key": "fixture", "Value": "golden"}],
        )
        self.assertNotIn("Status", s3.get_bucket_versioning(Bucket="golden-plain"))
        self.assertEqual(error_code(s3.get_bucket_tagging, Bucket="golden-versioned"), "NoSuchTagSet")
        self.assertEqual(error_code(s3.get_bucket_policy, Bucket="golden-versioned"), "NoSuchBucketPolicy")
        self.assertEqual(error_code(s3.get_bucket_cors, Bucket="golden-versioned"), "NoSuchCORSConfiguration")
        b = client("s3", B, "eu-west-1")
        self.assertEqual(b.get_bucket_tagging(Bucket="golden-b-eu")["TagSet"], [{"Key": "account", "Value": "b"}])

    def test_06_s3_open_uploads_keep_their_parts_and_complete(self):
        s3 = client("s3")
        uploads = s3.list_multipart_uploads(Bucket="golden-plain")["Uploads"]
        self.assertEqual(
            [(u["Key"], u["ChecksumAlgorithm"], u["ChecksumType"]) for u in uploads],
            [("uploads/full-object.bin", "CRC32", "FULL_OBJECT"), ("uploads/in-progress.bin", "SHA256", "COMPOSITE")],
        )
        for u in uploads:
            self.assert_pod_time_s3(ts(u["Initiated"]), u["Key"])
        full_id, open_id = (u["UploadId"] for u in uploads)

        parts = s3.list_parts(Bucket="golden-plain", Key="uploads/in-progress.bin", UploadId=open_id)["Parts"]
        self.assertEqual(
            [(p["PartNumber"], p["Size"], p["ETag"], p["ChecksumSHA256"]) for p in parts],
            [
                (1, len(OPEN_1), f'"{md5(OPEN_1)}"', checksum("SHA256", OPEN_1)),
                (3, len(OPEN_3), f'"{md5(OPEN_3)}"', checksum("SHA256", OPEN_3)),
            ],
        )
        self.assertEqual(error_code(s3.head_object, Bucket="golden-plain", Key="uploads/in-progress.bin"), "404")
        s3.complete_multipart_upload(
            Bucket="golden-plain",
            Key="uploads/in-progress.bin",
            UploadId=open_id,
            MultipartUpload={
                "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]} for p in parts]
            },
        )
        r = s3.get_object(Bucket="golden-plain", Key="uploads/in-progress.bin")
        self.assertEqual(hashlib.sha256(r["Body"].read()).hexdigest(), hashlib.sha256(OPEN_1 + OPEN_3).hexdigest())
        self.assertEqual((r["ContentType"], r["Metadata"]), ("application/octet-stream", {"stage": "uploading"}))
        tags = s3.get_object_tagging(Bucket="golden-plain", Key="uploads/in-progress.bin")["TagSet"]
        self.assertEqual(tags_of(tags), {"state": "open"})

        parts = s3.list_parts(Bucket="golden-plain", Key="uploads/full-object.bin", UploadId=full_id)["Parts"]
        self.assertEqual(
            [(p["PartNumber"], p["Size"], p["ETag"], p["ChecksumCRC32"]) for p in parts],
            [(1, len(FULL_1), f'"{md5(FULL_1)}"', checksum("CRC32", FULL_1))],
        )
        s3.complete_multipart_upload(
            Bucket="golden-plain",
            Key="uploads/full-object.bin",
            UploadId=full_id,
            ChecksumCRC32=checksum("CRC32", FULL_1),
            ChecksumType="FULL_OBJECT",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"], "ChecksumCRC32": parts[0]["ChecksumCRC32"]}]},
        )
        r = s3.get_object(Bucket="golden-plain", Key="uploads/full-object.bin", ChecksumMode="ENABLED")
        self.assertEqual(r["Body"].read(), FULL_1)
        self.assertEqual((r["ChecksumCRC32"], r["ChecksumType"]), (checksum("CRC32", FULL_1), "FULL_OBJECT"))
        self.assertNotIn("Uploads", s3.list_multipart_uploads(Bucket="golden-plain"))

    def test_10_sqs_queues_attributes_and_tags(self):
        self.check_queues(
            {
                "golden-dlq": (1, 0),
                "golden-orders": (3, 1),
                "golden-events.fifo": (6, 0),
                "golden-b-queue": (1, 0),
                "golden-c-queue": (1, 0),
            }
        )

    def test_11_sqs_fifo_in_flight_messages_come_back_in_group_order(self):
        counts = {b: 2 if b in FIFO_IN_FLIGHT else 1 for b, _ in FIFO_SENT}
        by_body = self.check_fifo_messages_in_group_order(counts)
        sqs = client("sqs")
        url = self.queue_url("golden-events.fifo")
        # The deduplication entries came along: the same content within the window is the same
        # message, also for a message deleted before the pod was made.
        again = sqs.send_message(QueueUrl=url, MessageBody="alpha-1", MessageGroupId="g-alpha")
        self.assertEqual(
            (again["MessageId"], again["SequenceNumber"]),
            (by_body["alpha-1"]["MessageId"], by_body["alpha-1"]["Attributes"]["SequenceNumber"]),
        )
        sqs.send_message(QueueUrl=url, MessageBody="delta-1", MessageGroupId="g-delta")
        sqs.send_message(QueueUrl=url, MessageBody="again", MessageGroupId="g-gamma", MessageDeduplicationId="gamma-dedup-1")
        for m in by_body.values():
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(self.receive_all("golden-events.fifo"), [], "duplicates were not enqueued")

    def test_12_sqs_standard_messages_dlq_and_other_accounts(self):
        got = self.receive_all("golden-orders")
        self.assertEqual([m["Body"] for m in got], ["order-1", "order-2", "order-inflight"])
        one, two, inflight = got
        self.assertEqual(
            one["MessageAttributes"],
            {
                "blob": {"BinaryValue": b"\x00golden\xff", "DataType": "Binary"},
                "count": {"StringValue": "42", "DataType": "Number"},
                "custom": {"StringValue": "custom type", "DataType": "String.golden"},
                "text": {"StringValue": "golden text", "DataType": "String"},
            },
        )
        self.assertEqual(one["Attributes"]["AWSTraceHeader"], "Root=1-00000000-000000000000000000000001")
        self.assertNotIn("MessageAttributes", two)
        self.assertNotIn("AWSTraceHeader", two["Attributes"])
        for m in got:
            self.assertEqual(m["Attributes"]["SenderId"], "test")
            self.assert_pod_time(int(m["Attributes"]["SentTimestamp"]) / 1000, m["Body"])
        self.assertEqual([m["Attributes"]["ApproximateReceiveCount"] for m in got], ["1", "1", "2"])
        self.assert_pod_time(int(inflight["Attributes"]["ApproximateFirstReceiveTimestamp"]) / 1000, "first receive")
        sqs = client("sqs")
        for m in got:
            sqs.delete_message(QueueUrl=self.queue_url("golden-orders"), ReceiptHandle=m["ReceiptHandle"])

        dlq = self.receive_all("golden-dlq")
        self.assertEqual([m["Body"] for m in dlq], ["order-poison"])
        a = dlq[0]["Attributes"]
        self.assertEqual((a["DeadLetterQueueSourceArn"], a["ApproximateReceiveCount"], a["SenderId"]), (ORDERS_ARN, "1", "test"))
        self.assert_pod_time(int(a["SentTimestamp"]) / 1000, "order-poison SentTimestamp")

        b = self.receive_all("golden-b-queue", B, "eu-west-1")
        self.assertEqual([(m["Body"], m["Attributes"]["SenderId"]) for m in b], [("hello from account B", B)])
        c = self.receive_all("golden-c-queue", C, "ap-southeast-2")
        self.assertEqual([m["Body"] for m in c], ["hello from the assumed role"])
        self.assertRegex(c[0]["Attributes"]["SenderId"], r"^ASIA[A-Z0-9]{16}$")
        self.assertIn(c[0]["Attributes"]["SenderId"], STS_KEYS, "sent with the assumed role's key")

    def test_20_secrets_per_account_and_region(self):
        self.check_secrets_listed(retired=True)

    def test_21_secrets_versions_stages_tags_and_policy(self):
        self.check_secret_values()

    def test_22_secret_scheduled_for_deletion_keeps_its_date(self):
        self.check_retired_restorable()

    def test_30_sts_credentials_map_to_their_accounts(self):
        found = []
        for key in STS_KEYS:
            self.assertRegex(key, r"^ASIA[A-Z0-9]{16}$")
            who = client("sts", key).get_caller_identity()
            found.append((who["Account"], who["Arn"], who["UserId"]))
        self.assertEqual([(a, arn) for a, arn, _ in sorted(found)], [(a, arn) for a, arn, _ in IDENTITIES])
        for (_, _, user), (_, _, pattern) in zip(sorted(found), IDENTITIES):
            self.assertRegex(user, f"^{pattern}$")
        # The assumed role's keys act in account C in every service.
        for key in STS_KEYS:
            if client("sts", key).get_caller_identity()["Account"] != C:
                continue
            buckets = client("s3", key, "ap-southeast-2").list_buckets()["Buckets"]
            self.assertEqual([b["Name"] for b in buckets], ["golden-c-ap"])
            urls = client("sqs", key, "ap-southeast-2").list_queues()["QueueUrls"]
            self.assertEqual([u.rsplit("/", 2)[-2:] for u in urls], [[C, "golden-c-queue"]])

    def test_99_delayed_message_after_its_delay(self):
        # Last (tests run in name order): it moves the clock. The delay keeps its absolute end, 900 s after
        # the message was sent.
        before = [m["Body"] for m in self.receive_all("golden-orders", VisibilityTimeout=0)]
        self.assertNotIn("order-delayed", before)
        advance_clock(900)
        got = self.receive_all("golden-orders")
        self.assertIn("order-delayed", [m["Body"] for m in got])
        delayed = next(m for m in got if m["Body"] == "order-delayed")
        self.assert_pod_time(int(delayed["Attributes"]["SentTimestamp"]) / 1000, "order-delayed SentTimestamp")


class ThreeDays(Checks):
    """Loaded 3 days later: the credentials (12 h, 36 h) have expired and golden-orders'
    messages (2 days' retention) are gone; the rest stays."""

    def test_01_s3_untouched(self):
        self.check_s3_buckets()
        self.check_s3_bodies()

    def test_10_sqs_retention_per_queue(self):
        self.check_queues(
            {
                "golden-dlq": (1, 0),
                "golden-orders": (0, 0),
                "golden-events.fifo": (6, 0),
                "golden-b-queue": (1, 0),
                "golden-c-queue": (1, 0),
            }
        )
        counts = {b: 2 if b in FIFO_IN_FLIGHT else 1 for b, _ in FIFO_SENT}
        by_body = self.check_fifo_messages_in_group_order(counts)
        # The deduplication window has passed: the same content is a new message now.
        again = client("sqs").send_message(QueueUrl=self.queue_url("golden-events.fifo"), MessageBody="alpha-1", MessageGroupId="g-alpha")
        self.assertNotEqual(again["MessageId"], by_body["alpha-1"]["MessageId"])

    def test_20_secrets_still_restorable(self):
        self.check_secrets_listed(retired=True)
        self.check_secret_values()
        self.check_retired_restorable()

    def test_30_sts_credentials_expired(self):
        self.check_credentials_expired()


class EightDays(Checks):
    """Loaded 8 days later: the 7-day deletion window has passed and the 4-day queues are
    empty; the DLQ (14 days) keeps its message."""

    def test_20_secret_deleted(self):
        self.check_secrets_listed(retired=False)
        sm = client("secretsmanager")
        self.assertEqual(error_code(sm.describe_secret, SecretId="golden/retired"), "ResourceNotFoundException")
        self.check_secret_values()

    def test_10_sqs_only_the_dlq_keeps_its_message(self):
        self.check_queues(
            {
                "golden-dlq": (1, 0),
                "golden-orders": (0, 0),
                "golden-events.fifo": (0, 0),
                "golden-b-queue": (0, 0),
                "golden-c-queue": (0, 0),
            }
        )
        self.assertEqual([m["Body"] for m in self.receive_all("golden-dlq")], ["order-poison"])

    def test_30_sts_credentials_expired(self):
        self.check_credentials_expired()


class ThirtyDays(Checks):
    """Loaded 30 days later: every message is gone; queues, buckets, objects, the open
    upload and the other secrets stay (nothing else has a time rule)."""

    def test_01_s3_untouched(self):
        self.check_s3_buckets()
        self.check_s3_bodies()
        uploads = client("s3").list_multipart_uploads(Bucket="golden-plain")["Uploads"]
        self.assertEqual([u["Key"] for u in uploads], ["uploads/full-object.bin", "uploads/in-progress.bin"])

    def test_10_sqs_every_queue_empty(self):
        self.check_queues({q: (0, 0) for q in QUEUE_TAGS})

    def test_20_secrets_without_the_deleted_one(self):
        self.check_secrets_listed(retired=False)
        self.check_secret_values()

    def test_30_sts_credentials_expired(self):
        self.check_credentials_expired()


PHASES = {"fresh": Fresh, "3d": ThreeDays, "8d": EightDays, "30d": ThirtyDays}


def load_tests(loader, standard_tests, pattern):
    return loader.loadTestsFromTestCase(PHASES[PHASE])


if __name__ == "__main__":
    for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN"]:
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    unittest.main()
