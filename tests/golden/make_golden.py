#!/usr/bin/env python3
"""Makes a golden pod: state covering every resource type of S3, SQS, Secrets Manager and
STS in several accounts and regions, written as a single-file pod archive.

    make_golden.py ENDPOINT OUTPUT.pod

ENDPOINT is a fresh, empty podstack started with PODSTACK_CLOCK_CONTROL=1 (see README.md for
the exact commands). The script refuses to overwrite OUTPUT: a golden pod, once committed, is
never made again.

The emulator's clock is first moved to 2100-01-01T00:00:00Z, so that every time rule applied
at load (SQS retention and deduplication windows, STS expiry, Secrets Manager deletion
windows) sees the pod as recent for as long as anyone runs the test; tests/tests/golden_pods.rs
moves the clock of the emulator it loads the pod into to the pod's commit time and later.
(S3 stamps its objects with the system clock, so S3 times are the real time of the run.)

Names, bodies, attributes and tags are fixed; ids the emulator makes (S3 version and upload
ids, SQS message ids, STS access keys, secret ARN suffixes) are random. Keep bodies tiny.
check_golden.py holds the expectations of what this makes, written out independently: change
one, change the other (and see README.md before changing either).
"""

import datetime
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

# 2100-01-01T00:00:00Z.
FIXTURE_EPOCH = 4_102_444_800

# Accounts: the access key id selects the account when it is 12 digits (`account_of` in the
# emulator's auth module); any other key ("test") is the default account.
A_KEY = "test"  # 000000000000
A = "000000000000"
B_KEY = "111111111111"
B = "111111111111"
C = "222222222222"  # its resources are made with AssumeRole credentials

ROLE_ARN = f"arn:aws:iam::{C}:role/golden-role"

MIB = 1024 * 1024


def die(msg):
    print(f"make_golden.py: {msg}", file=sys.stderr)
    sys.exit(1)


class Golden:
    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")

    # --- plumbing -------------------------------------------------------------------------

    def client(self, service, key=A_KEY, region="us-east-1", secret="test", token=None):
        extra = {}
        if service == "s3":
            extra["s3"] = {"addressing_style": "path"}
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **extra),
        )

    def raw(self, method, path):
        req = urllib.request.Request(self.endpoint + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def advance(self, seconds):
        status, body = self.raw("POST", f"/_podstack/clock?advance={seconds}")
        if status != 200:
            die(f"cannot move the emulator's clock ({status} {body!r}): start it with PODSTACK_CLOCK_CONTROL=1")
        return json.loads(body)["now_ms"]

    def check_empty(self):
        who = self.client("sts").get_caller_identity()
        if who["Account"] != A:
            die(f"the default account is {who['Account']}, not {A} (unset PODSTACK_DEFAULT_ACCOUNT)")
        for key, region in [(A_KEY, "us-east-1"), (B_KEY, "eu-west-1"), (C, "ap-southeast-2")]:
            if self.client("s3", key, region).list_buckets().get("Buckets"):
                die("the emulator has buckets already: start a fresh one")
            if self.client("sqs", key, region).list_queues().get("QueueUrls"):
                die("the emulator has queues already: start a fresh one")
            if self.client("secretsmanager", key, region).list_secrets().get("SecretList"):
                die("the emulator has secrets already: start a fresh one")

    def set_clock(self):
        now_ms = self.advance(0)
        shift = FIXTURE_EPOCH - now_ms // 1000
        if shift <= 0:
            die("the emulator's clock is past the fixture epoch already")
        now_ms = self.advance(shift)
        print(f"clock moved to {datetime.datetime.fromtimestamp(now_ms / 1000, datetime.timezone.utc).isoformat()}")

    # --- STS (first: account C's resources are made with its credentials) ----------------

    def sts(self):
        sts_a = self.client("sts")
        role = sts_a.assume_role(RoleArn=ROLE_ARN, RoleSessionName="golden-session", DurationSeconds=43200)
        c = role["Credentials"]
        self.role_creds = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        who = self.client("sts", c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]).get_caller_identity()
        assert who["Account"] == C, who
        # A session token of the assumed role: the same identity, a longer life.
        role_sts = self.client("sts", c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
        role_sts.get_session_token(DurationSeconds=129600)
        # A session token of account B's root.
        self.client("sts", B_KEY, "eu-west-1").get_session_token(DurationSeconds=129600)

    def role_client(self, service, region):
        key, secret, token = self.role_creds
        return self.client(service, key, region, secret=secret, token=token)

    # --- S3 --------------------------------------------------------------------------------

    def s3(self):
        s3 = self.client("s3")

        # golden-plain (A, us-east-1): objects with metadata, tags, checksums, a copy, a
        # completed multipart object, an open upload, and every bucket configuration.
        s3.create_bucket(Bucket="golden-plain")
        s3.put_object(
            Bucket="golden-plain",
            Key="hello.txt",
            Body=b"hello, golden pod\n",
            ContentType="text/plain; charset=utf-8",
            Metadata={"owner": "golden", "purpose": "fixture"},
            Tagging="kind=greeting&lang=en",
        )
        s3.put_object(
            Bucket="golden-plain",
            Key="dir/sub dir/\u00fcn\u00efc\u00f6d\u00e9 + key.json",
            Body=b'{"golden": true}\n',
            ContentType="application/json",
            CacheControl="max-age=60",
            ContentDisposition='attachment; filename="golden.json"',
            ContentEncoding="identity",
            ContentLanguage="en-GB",
            Expires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
            StorageClass="STANDARD_IA",
            WebsiteRedirectLocation="/hello.txt",
        )
        # An empty body on a client of its own: botocore sends `Expect: 100-continue` with
        # `Content-Length: 0`, the emulator answers at once, and botocore then misreads the
        # next answer on that connection (it waits until the idle connection closes).
        self.client("s3").put_object(Bucket="golden-plain", Key="empty", Body=b"")
        s3.put_object(Bucket="golden-plain", Key="checksummed.bin", Body=b"checksum me\n", ChecksumAlgorithm="SHA256")
        s3.copy_object(
            Bucket="golden-plain",
            Key="copy-of-hello.txt",
            CopySource={"Bucket": "golden-plain", "Key": "hello.txt"},
        )
        s3.put_object(Bucket="golden-plain", Key="100% golden.txt", Body=b"a key with a percent sign\n")

        # A completed multipart object of two parts (a part before the last must be 5 MiB;
        # a repeated pattern, so that the archive stays small).
        part1 = b"golden-part-1.\n" * (5 * MIB // 15 + 1)
        part2 = b"golden-part-2: the tail\n"
        up = s3.create_multipart_upload(
            Bucket="golden-plain", Key="multipart.bin", ContentType="application/x-golden", Metadata={"parts": "2"}
        )
        etags = []
        for n, data in [(1, part1), (2, part2)]:
            r = s3.upload_part(Bucket="golden-plain", Key="multipart.bin", UploadId=up["UploadId"], PartNumber=n, Body=data)
            etags.append({"PartNumber": n, "ETag": r["ETag"], **{k: v for k, v in r.items() if k.startswith("Checksum")}})
        s3.complete_multipart_upload(
            Bucket="golden-plain", Key="multipart.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": etags}
        )
        # The same with SHA-256 checksums: a composite object checksum (part 1's body is
        # part 1 above, so the pod holds it once).
        up = s3.create_multipart_upload(Bucket="golden-plain", Key="multipart-sha256.bin", ChecksumAlgorithm="SHA256")
        parts = []
        for n, data in [(1, part1), (2, b"golden-part-2: the sha-256 tail\n")]:
            r = s3.upload_part(
                Bucket="golden-plain",
                Key="multipart-sha256.bin",
                UploadId=up["UploadId"],
                PartNumber=n,
                Body=data,
                ChecksumAlgorithm="SHA256",
            )
            parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
        s3.complete_multipart_upload(
            Bucket="golden-plain", Key="multipart-sha256.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
        )

        # An upload left open: parts 1 and 3 (a gap), SHA-256 part checksums, metadata and tags.
        open_up = s3.create_multipart_upload(
            Bucket="golden-plain",
            Key="uploads/in-progress.bin",
            ContentType="application/octet-stream",
            Metadata={"stage": "uploading"},
            Tagging="state=open",
            ChecksumAlgorithm="SHA256",
        )
        for n, data in [(1, b"golden-open-1.\n" * (5 * MIB // 15 + 1)), (3, b"golden-open-3: last part\n")]:
            s3.upload_part(
                Bucket="golden-plain",
                Key="uploads/in-progress.bin",
                UploadId=open_up["UploadId"],
                PartNumber=n,
                Body=data,
                ChecksumAlgorithm="SHA256",
            )

        # Another open upload: a full-object CRC32 checksum, one part.
        full = s3.create_multipart_upload(
            Bucket="golden-plain", Key="uploads/full-object.bin", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
        )
        s3.upload_part(
            Bucket="golden-plain",
            Key="uploads/full-object.bin",
            UploadId=full["UploadId"],
            PartNumber=1,
            Body=b"golden-full-object: the only part\n",
            ChecksumAlgorithm="CRC32",
        )

        s3.put_bucket_tagging(
            Bucket="golden-plain",
            Tagging={"TagSet": [{"Key": "project", "Value": "podstack"}, {"Key": "fixture", "Value": "golden"}]},
        )
        s3.put_bucket_policy(
            Bucket="golden-plain",
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "GoldenRead",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "s3:GetObject",
                            "Resource": "arn:aws:s3:::golden-plain/*",
                        }
                    ],
                },
                separators=(",", ":"),
            ),
        )
        s3.put_bucket_cors(
            Bucket="golden-plain",
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedHeaders": ["*"],
                        "AllowedMethods": ["GET", "PUT"],
                        "AllowedOrigins": ["https://golden.example"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 300,
                    }
                ]
            },
        )
        s3.put_bucket_lifecycle_configuration(
            Bucket="golden-plain",
            LifecycleConfiguration={
                "Rules": [{"ID": "expire-tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 7}}]
            },
        )
        s3.put_bucket_notification_configuration(
            Bucket="golden-plain",
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": "golden-notify",
                        "QueueArn": f"arn:aws:sqs:us-east-1:{A}:golden-orders",
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ]
            },
        )

        # golden-versioned (A, us-east-1): a "null" version from before versioning, three
        # versions and a delete marker of one key; a key that is only a delete marker.
        s3.create_bucket(Bucket="golden-versioned")
        s3.put_object(Bucket="golden-versioned", Key="doc.txt", Body=b"doc version 0 (null)\n")
        s3.put_bucket_versioning(Bucket="golden-versioned", VersioningConfiguration={"Status": "Enabled"})
        for n in (1, 2, 3):
            s3.put_object(
                Bucket="golden-versioned",
                Key="doc.txt",
                Body=f"doc version {n}\n".encode(),
                ContentType="text/plain",
                Metadata={"rev": str(n)},
                Tagging=f"rev={n}",
            )
        s3.delete_object(Bucket="golden-versioned", Key="doc.txt")
        s3.put_object(Bucket="golden-versioned", Key="kept.txt", Body=b"kept\n")
        s3.delete_object(Bucket="golden-versioned", Key="only-marker.txt")

        # golden-suspended (A, us-east-1): versioning enabled, then suspended.
        s3.create_bucket(Bucket="golden-suspended")
        s3.put_bucket_versioning(Bucket="golden-suspended", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="golden-suspended", Key="a.txt", Body=b"a while enabled\n")
        s3.put_bucket_versioning(Bucket="golden-suspended", VersioningConfiguration={"Status": "Suspended"})
        s3.put_object(Bucket="golden-suspended", Key="a.txt", Body=b"a while suspended\n")

        # golden-west (A, us-west-2, by location constraint).
        west = self.client("s3", A_KEY, "us-west-2")
        west.create_bucket(Bucket="golden-west", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        west.put_object(Bucket="golden-west", Key="west.txt", Body=b"from us-west-2\n")

        # golden-b-eu (B, eu-west-1) and golden-b-us (B, us-east-1).
        b_eu = self.client("s3", B_KEY, "eu-west-1")
        b_eu.create_bucket(Bucket="golden-b-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        b_eu.put_object(Bucket="golden-b-eu", Key="eu.txt", Body=b"account B in eu-west-1\n", Metadata={"account": "b"})
        b_eu.put_bucket_tagging(Bucket="golden-b-eu", Tagging={"TagSet": [{"Key": "account", "Value": "b"}]})
        b_us = self.client("s3", B_KEY, "us-east-1")
        b_us.create_bucket(Bucket="golden-b-us")
        b_us.put_object(Bucket="golden-b-us", Key="us.txt", Body=b"account B in us-east-1\n")

        # golden-c-ap (C, ap-southeast-2): made with the assumed role's credentials.
        c_ap = self.role_client("s3", "ap-southeast-2")
        c_ap.create_bucket(Bucket="golden-c-ap", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        c_ap.put_object(Bucket="golden-c-ap", Key="from-role.txt", Body=b"written with assumed-role credentials\n")

    # --- SQS -------------------------------------------------------------------------------

    def sqs(self):
        sqs = self.client("sqs")
        sqs.create_queue(
            QueueName="golden-dlq",
            Attributes={
                "MessageRetentionPeriod": "1209600",
                "RedriveAllowPolicy": json.dumps({"redrivePermission": "allowAll"}, separators=(",", ":")),
            },
        )
        orders = sqs.create_queue(
            QueueName="golden-orders",
            Attributes={
                "DelaySeconds": "2",
                "MaximumMessageSize": "65536",
                "MessageRetentionPeriod": "172800",
                "ReceiveMessageWaitTimeSeconds": "0",
                "VisibilityTimeout": "45",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{A}:golden-dlq", "maxReceiveCount": 2},
                    separators=(",", ":"),
                ),
                "Policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "GoldenSend",
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "sqs:SendMessage",
                                "Resource": f"arn:aws:sqs:us-east-1:{A}:golden-orders",
                            }
                        ],
                    },
                    separators=(",", ":"),
                ),
            },
            tags={"team": "golden", "env": "fixture"},
        )["QueueUrl"]

        # A poison message: received twice (visibility 0), moved to the DLQ by the third receive.
        sqs.send_message(QueueUrl=orders, MessageBody="order-poison")
        self.advance(3)
        for _ in range(2):
            got = sqs.receive_message(QueueUrl=orders, VisibilityTimeout=0, MaxNumberOfMessages=1).get("Messages", [])
            assert [m["Body"] for m in got] == ["order-poison"], got
        assert not sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=10).get("Messages")
        # One message in flight when the pod is made.
        sqs.send_message(QueueUrl=orders, MessageBody="order-inflight")
        self.advance(3)
        got = sqs.receive_message(QueueUrl=orders, VisibilityTimeout=43200, MaxNumberOfMessages=10).get("Messages", [])
        assert [m["Body"] for m in got] == ["order-inflight"], got
        # Visible messages, one with every kind of message attribute and a trace header.
        sqs.send_message(
            QueueUrl=orders,
            MessageBody="order-1",
            MessageAttributes={
                "text": {"DataType": "String", "StringValue": "golden text"},
                "count": {"DataType": "Number", "StringValue": "42"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00golden\xff"},
                "custom": {"DataType": "String.golden", "StringValue": "custom type"},
            },
            MessageSystemAttributes={
                "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-00000000-000000000000000000000001"}
            },
        )
        sqs.send_message(QueueUrl=orders, MessageBody="order-2")
        self.advance(3)
        # A delayed message: invisible until 900 s after it was sent.
        sqs.send_message(QueueUrl=orders, MessageBody="order-delayed", DelaySeconds=900)

        # FIFO with content-based deduplication: a deleted message (its deduplication entry
        # stays), six messages in three groups, three of them in flight.
        fifo = sqs.create_queue(
            QueueName="golden-events.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "30"},
            tags={"kind": "fifo"},
        )["QueueUrl"]
        sqs.send_message(QueueUrl=fifo, MessageBody="delta-1", MessageGroupId="g-delta")
        got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in got] == ["delta-1"], got
        sqs.delete_message(QueueUrl=fifo, ReceiptHandle=got[0]["ReceiptHandle"])
        for body, group in [
            ("alpha-1", "g-alpha"),
            ("beta-1", "g-beta"),
            ("alpha-2", "g-alpha"),
            ("gamma-1", "g-gamma"),
            ("beta-2", "g-beta"),
            ("alpha-3", "g-alpha"),
        ]:
            extra = {}
            if body == "gamma-1":
                extra["MessageDeduplicationId"] = "gamma-dedup-1"
                extra["MessageAttributes"] = {"priority": {"DataType": "Number", "StringValue": "7"}}
            sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId=group, **extra)
        got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=2, VisibilityTimeout=43200)["Messages"]
        assert [m["Body"] for m in got] == ["alpha-1", "alpha-2"], got
        got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=1, VisibilityTimeout=43200)["Messages"]
        assert [m["Body"] for m in got] == ["beta-1"], got

        # Account B, eu-west-1; account C (the assumed role), ap-southeast-2.
        b = self.client("sqs", B_KEY, "eu-west-1")
        bq = b.create_queue(QueueName="golden-b-queue", tags={"account": "b"})["QueueUrl"]
        b.send_message(QueueUrl=bq, MessageBody="hello from account B")
        c = self.role_client("sqs", "ap-southeast-2")
        cq = c.create_queue(QueueName="golden-c-queue", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
        c.send_message(QueueUrl=cq, MessageBody="hello from the assumed role")

    # --- Secrets Manager -------------------------------------------------------------------

    def secrets(self):
        sm = self.client("secretsmanager")
        tok = lambda n: f"00000000-0000-4000-8000-{n:012d}"  # noqa: E731
        sm.create_secret(
            Name="golden/db-password",
            ClientRequestToken=tok(1),
            SecretString='{"user":"golden","password":"not-a-real-password-1"}',
            Description="golden fixture: a secret with several versions",
            KmsKeyId="alias/golden-fixture",
            Tags=[{"Key": "env", "Value": "fixture"}, {"Key": "team", "Value": "golden"}],
        )
        sm.put_secret_value(
            SecretId="golden/db-password",
            ClientRequestToken=tok(2),
            SecretString='{"user":"golden","password":"not-a-real-password-2"}',
        )
        sm.put_secret_value(
            SecretId="golden/db-password",
            ClientRequestToken=tok(3),
            SecretString='{"user":"golden","password":"not-a-real-password-3"}',
            VersionStages=["GOLDEN-PENDING"],
        )
        sm.update_secret_version_stage(SecretId="golden/db-password", VersionStage="GOLDEN-PINNED", MoveToVersionId=tok(1))
        sm.put_resource_policy(
            SecretId="golden/db-password",
            ResourcePolicy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": "*",
                        }
                    ],
                },
                separators=(",", ":"),
            ),
        )
        sm.tag_resource(SecretId="golden/db-password", Tags=[{"Key": "rotation", "Value": "manual"}])
        sm.get_secret_value(SecretId="golden/db-password")  # sets LastAccessedDate

        sm.create_secret(
            Name="golden/tls-key",
            ClientRequestToken=tok(11),
            SecretBinary=b"\x00\x01\x02golden-binary\xfe\xff",
            Tags=[{"Key": "kind", "Value": "binary"}],
        )
        # Three values: the first keeps no staging label (a deprecated version).
        for n in (41, 42, 43):
            if n == 41:
                sm.create_secret(Name="golden/rotated", ClientRequestToken=tok(n), SecretString=f"rotated-{n}")
            else:
                sm.put_secret_value(SecretId="golden/rotated", ClientRequestToken=tok(n), SecretString=f"rotated-{n}")
        sm.create_secret(Name="golden/retired", ClientRequestToken=tok(21), SecretString="retired-value")
        sm.delete_secret(SecretId="golden/retired", RecoveryWindowInDays=7)
        sm.create_secret(Name="golden/no-value", Description="golden fixture: a secret without a value")

        b = self.client("secretsmanager", B_KEY, "eu-west-1")
        b.create_secret(
            Name="golden-b/api-token",
            ClientRequestToken=tok(31),
            SecretString="b-token-value",
            Tags=[{"Key": "account", "Value": "b"}],
        )

    # --- the archive -----------------------------------------------------------------------

    def export(self, out):
        status, body = self.raw("GET", "/_localstack/pods/state")
        if status != 200:
            die(f"GET /_localstack/pods/state answered {status}: {body[:500]!r}")
        tmp = out + ".tmp"
        with open(tmp, "xb") as f:
            f.write(body)
        os.link(tmp, out)  # fails if OUTPUT appeared meanwhile
        os.unlink(tmp)
        status, model = self.raw("GET", "/_localstack/pods/state/metamodel")
        counts = {}
        for account, regions in json.loads(model).items():
            for region, services in regions.items():
                for service, types in services.items():
                    for ty, ids in types.items():
                        k = f"{account}/{region}/{service}/{ty}"
                        counts[k] = counts.get(k, 0) + len(ids)
        for k in sorted(counts):
            print(f"{counts[k]:4}  {k}")
        print(f"wrote {out}: {len(body)} bytes, {sum(counts.values())} resources")


def main():
    if len(sys.argv) != 3:
        die("usage: make_golden.py ENDPOINT OUTPUT.pod")
    endpoint, out = sys.argv[1], sys.argv[2]
    if os.path.exists(out):
        die(f"{out} exists: golden pods are never made again (see README.md)")
    for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN"]:
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    g = Golden(endpoint)
    status, _ = g.raw("GET", "/_localstack/health")
    if status != 200:
        die(f"no podstack at {endpoint}")
    g.check_empty()
    g.set_clock()
    g.sts()
    g.s3()
    g.sqs()
    g.secrets()
    g.export(out)


if __name__ == "__main__":
    main()
