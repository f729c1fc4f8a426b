"""boto3 against a running podstack (endpoint in PODSTACK_ENDPOINT), with boto3's default
settings (request checksums when supported, response checksum validation).

Run by tests/tests/s3_boto3.rs; standalone:
    PODSTACK_ENDPOINT=http://127.0.0.1:4566 python3 tests/python/s3_boto3.py -v
"""

import base64
import datetime
import hashlib
import http.client
import os
import socket
import sys
import unittest
import urllib.parse
import uuid
import zlib

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("PODSTACK_ENDPOINT", "http://127.0.0.1:4566")
PORT = urllib.parse.urlparse(ENDPOINT).port or 80
MIB = 1024 * 1024


def client(endpoint=ENDPOINT, addressing="path", key="test", region="us-east-1", **config):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key="test",
        config=Config(
            s3={"addressing_style": addressing},
            retries={"max_attempts": 1, "mode": "standard"},
            **config,
        ),
    )


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def checksum(algorithm, data):
    """The base64 value S3 shows for a checksum."""
    if algorithm == "CRC32":
        digest = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    elif algorithm == "CRC32C":
        c = 0xFFFFFFFF
        for b in data:
            c = CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
        digest = (c ^ 0xFFFFFFFF).to_bytes(4, "big")
    elif algorithm == "SHA256":
        digest = hashlib.sha256(data).digest()
    elif algorithm == "SHA1":
        digest = hashlib.sha1(data).digest()
    else:
        raise ValueError(algorithm)
    return base64.b64encode(digest).decode()


def md5(data):
    return hashlib.md5(data).hexdigest()


def body_of(resp):
    return resp["Body"].read()


def raw_request(method, path, body=b"", headers=None, host=None):
    """An unsigned request with http.client (for bodies the SDK would not send)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    h = {"Host": host or f"127.0.0.1:{PORT}"}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


class S3TestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.s3 = client()
        self.bucket = "boto-" + uuid.uuid4().hex[:16]
        self.s3.create_bucket(Bucket=self.bucket)

    def assertClientError(self, code, status, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

    def put(self, key, data, **kw):
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **kw)


class Checksums(S3TestCase):
    def test_put_and_get_with_each_algorithm(self):
        data = os.urandom(100_000)
        for algorithm in ["CRC32", "CRC32C", "SHA256"]:
            with self.subTest(algorithm=algorithm):
                key = f"sum/{algorithm}"
                want = checksum(algorithm, data)
                if algorithm == "CRC32C":
                    # botocore computes CRC32C only with awscrt installed; a value we send
                    # ourselves goes out as the x-amz-checksum-crc32c header and is verified.
                    put = self.put(key, data, ChecksumCRC32C=want)
                else:
                    put = self.put(key, data, ChecksumAlgorithm=algorithm)
                self.assertEqual(put[f"Checksum{algorithm}"], want)
                self.assertEqual(put["ETag"], f'"{md5(data)}"')
                got = self.s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
                self.assertEqual(got[f"Checksum{algorithm}"], want)
                self.assertEqual(got["ChecksumType"], "FULL_OBJECT")
                self.assertEqual(body_of(got), data)
                head = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
                self.assertEqual(head[f"Checksum{algorithm}"], want)
                attrs = self.s3.get_object_attributes(
                    Bucket=self.bucket, Key=key, ObjectAttributes=["Checksum", "ObjectSize"]
                )
                self.assertEqual(attrs["Checksum"][f"Checksum{algorithm}"], want)
                self.assertEqual(attrs["ObjectSize"], len(data))

    def test_default_put_sends_a_checksum_that_comes_back(self):
        data = b"default checksum settings"
        self.put("default", data)
        got = self.s3.get_object(Bucket=self.bucket, Key="default", ChecksumMode="ENABLED")
        self.assertEqual(got.get("ChecksumCRC32"), checksum("CRC32", data))
        self.assertEqual(body_of(got), data)

    def test_a_wrong_checksum_is_refused(self):
        err = self.assertClientError(
            "BadDigest",
            400,
            self.put,
            "bad",
            b"some bytes",
            ChecksumSHA256=checksum("SHA256", b"other bytes"),
        )
        self.assertIn("x-amz-checksum-sha256", err["Error"]["Message"])
        self.assertClientError(
            "BadDigest",
            400,
            self.put,
            "bad",
            b"some bytes",
            ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode(),
        )
        self.assertClientError("NoSuchKey", 404, self.s3.get_object, Bucket=self.bucket, Key="bad")

    def test_ranged_get_with_checksum_mode(self):
        data = bytes(range(256)) * 4
        self.put("r", data, ChecksumAlgorithm="CRC32")
        got = self.s3.get_object(
            Bucket=self.bucket, Key="r", Range="bytes=10-19", ChecksumMode="ENABLED"
        )
        self.assertEqual(body_of(got), data[10:20])
        self.assertNotIn("ChecksumCRC32", got, "a range carries no whole-object checksum")


class ConditionalReads(S3TestCase):
    def setUp(self):
        super().setUp()
        self.data = b"conditional body"
        self.etag = self.put("c", self.data)["ETag"]
        self.modified = self.s3.head_object(Bucket=self.bucket, Key="c")["LastModified"]
        self.hour = datetime.timedelta(hours=1)

    def status(self, **kw):
        try:
            r = self.s3.get_object(Bucket=self.bucket, Key="c", **kw)
            self.assertEqual(body_of(r), self.data)
            return r["ResponseMetadata"]["HTTPStatusCode"]
        except ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"]

    def test_if_match_and_if_none_match(self):
        self.assertEqual(self.status(IfMatch=self.etag), 200)
        self.assertEqual(self.status(IfMatch='"0123"'), 412)
        self.assertEqual(self.status(IfMatch="*"), 200)
        self.assertEqual(self.status(IfNoneMatch=self.etag), 304)
        self.assertEqual(self.status(IfNoneMatch='"0123"'), 200)
        err = self.assertClientError(
            "PreconditionFailed", 412, self.s3.get_object, Bucket=self.bucket, Key="c",
            IfMatch='"0123"',
        )
        self.assertIn("pre-conditions", err["Error"]["Message"])

    def test_if_modified_and_unmodified_since(self):
        self.assertEqual(self.status(IfModifiedSince=self.modified - self.hour), 200)
        self.assertEqual(self.status(IfModifiedSince=self.modified + self.hour), 304)
        self.assertEqual(self.status(IfModifiedSince=self.modified), 304)
        self.assertEqual(self.status(IfUnmodifiedSince=self.modified + self.hour), 200)
        self.assertEqual(self.status(IfUnmodifiedSince=self.modified - self.hour), 412)
        # If-Match true wins over If-Unmodified-Since false (S3's documented rule).
        self.assertEqual(
            self.status(IfMatch=self.etag, IfUnmodifiedSince=self.modified - self.hour), 200
        )

    def test_head_conditionals(self):
        def head(**kw):
            try:
                r = self.s3.head_object(Bucket=self.bucket, Key="c", **kw)
                return r["ResponseMetadata"]["HTTPStatusCode"]
            except ClientError as e:
                return e.response["ResponseMetadata"]["HTTPStatusCode"]

        self.assertEqual(head(IfNoneMatch=self.etag), 304)
        self.assertEqual(head(IfMatch='"x"'), 412)
        self.assertEqual(head(IfMatch=self.etag), 200)


class RangesAndOverrides(S3TestCase):
    def test_ranges(self):
        data = bytes(range(100))
        self.put("r", data)
        r = self.s3.get_object(Bucket=self.bucket, Key="r", Range="bytes=0-4")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(r["ContentRange"], "bytes 0-4/100")
        self.assertEqual(r["ContentLength"], 5)
        self.assertEqual(body_of(r), data[:5])
        r = self.s3.get_object(Bucket=self.bucket, Key="r", Range="bytes=-3")
        self.assertEqual((r["ContentRange"], body_of(r)), ("bytes 97-99/100", data[97:]))
        r = self.s3.get_object(Bucket=self.bucket, Key="r", Range="bytes=90-")
        self.assertEqual(body_of(r), data[90:])
        r = self.s3.get_object(Bucket=self.bucket, Key="r", Range="bytes=95-200")
        self.assertEqual((r["ContentRange"], body_of(r)), ("bytes 95-99/100", data[95:]))
        err = self.assertClientError(
            "InvalidRange", 416, self.s3.get_object, Bucket=self.bucket, Key="r",
            Range="bytes=100-",
        )
        self.assertEqual(err["Error"].get("ActualObjectSize"), "100")

    def test_response_overrides(self):
        self.put("o", b"a,b\n", ContentType="text/plain", CacheControl="max-age=5")
        r = self.s3.get_object(
            Bucket=self.bucket,
            Key="o",
            ResponseContentType="text/csv",
            ResponseContentDisposition='attachment; filename="o.csv"',
            ResponseCacheControl="no-cache",
            ResponseContentLanguage="fr",
            ResponseContentEncoding="identity",
            ResponseExpires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        )
        self.assertEqual(r["ContentType"], "text/csv")
        self.assertEqual(r["ContentDisposition"], 'attachment; filename="o.csv"')
        self.assertEqual(r["CacheControl"], "no-cache")
        self.assertEqual(r["ContentLanguage"], "fr")
        self.assertEqual(r["ContentEncoding"], "identity")
        self.assertEqual(
            r["ResponseMetadata"]["HTTPHeaders"]["expires"], "Wed, 02 Jan 2030 03:04:05 GMT"
        )
        self.assertEqual(body_of(r), b"a,b\n")
        # Without overrides the stored values come back.
        r = self.s3.get_object(Bucket=self.bucket, Key="o")
        self.assertEqual((r["ContentType"], r["CacheControl"]), ("text/plain", "max-age=5"))

    def test_user_metadata_round_trip(self):
        self.put(
            "m",
            b"x",
            Metadata={"Color": "blue", "with-dash": "a b  c", "empty": ""},
            ContentDisposition="inline",
            ContentLanguage="de",
        )
        h = self.s3.head_object(Bucket=self.bucket, Key="m")
        self.assertEqual(h["Metadata"], {"color": "blue", "with-dash": "a b  c", "empty": ""})
        self.assertEqual((h["ContentDisposition"], h["ContentLanguage"]), ("inline", "de"))
        g = self.s3.get_object(Bucket=self.bucket, Key="m")
        self.assertEqual(g["Metadata"], h["Metadata"])


class ConditionalWrites(S3TestCase):
    def test_put_object_conditions(self):
        first = self.put("w", b"one", IfNoneMatch="*")
        self.assertClientError("PreconditionFailed", 412, self.put, "w", b"two", IfNoneMatch="*")
        self.assertClientError("PreconditionFailed", 412, self.put, "w", b"two", IfMatch='"00"')
        second = self.put("w", b"two", IfMatch=first["ETag"])
        self.assertEqual(second["ETag"], f'"{md5(b"two")}"')
        self.assertClientError("NoSuchKey", 404, self.put, "nothing-here", b"x", IfMatch='"00"')
        self.assertEqual(body_of(self.s3.get_object(Bucket=self.bucket, Key="w")), b"two")

    def complete(self, key, **kw):
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        part = self.s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=b"part"
        )
        return self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
            **kw,
        )

    def test_complete_multipart_conditions(self):
        done = self.complete("mp", IfNoneMatch="*")
        self.assertTrue(done["ETag"].endswith('-1"'), done["ETag"])
        self.assertClientError("PreconditionFailed", 412, self.complete, "mp", IfNoneMatch="*")
        self.assertClientError("PreconditionFailed", 412, self.complete, "mp", IfMatch='"00"')
        again = self.complete("mp", IfMatch=done["ETag"])
        self.assertEqual(again["ETag"], done["ETag"])


class Multipart(S3TestCase):
    def create(self, key, **kw):
        return self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, **kw)["UploadId"]

    def upload(self, key, upload_id, n, data, **kw):
        return self.s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data, **kw
        )["ETag"]

    def complete(self, key, upload_id, parts):
        return self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        )

    def test_part_validation_listing_and_etag(self):
        p1, p2 = os.urandom(5 * MIB), os.urandom(1000)
        uid = self.create("big")
        e1 = self.upload("big", uid, 1, p1)
        e2 = self.upload("big", uid, 2, p2)
        self.assertEqual((e1, e2), (f'"{md5(p1)}"', f'"{md5(p2)}"'))

        parts = self.s3.list_parts(Bucket=self.bucket, Key="big", UploadId=uid)
        self.assertEqual(
            [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts["Parts"]],
            [(1, e1, 5 * MIB), (2, e2, 1000)],
        )
        self.assertFalse(parts["IsTruncated"])
        page = self.s3.list_parts(Bucket=self.bucket, Key="big", UploadId=uid, MaxParts=1)
        self.assertEqual([p["PartNumber"] for p in page["Parts"]], [1])
        self.assertTrue(page["IsTruncated"])
        self.assertEqual(page["NextPartNumberMarker"], 1)
        rest = self.s3.list_parts(
            Bucket=self.bucket, Key="big", UploadId=uid, PartNumberMarker=1
        )
        self.assertEqual([p["PartNumber"] for p in rest["Parts"]], [2])

        uploads = self.s3.list_multipart_uploads(Bucket=self.bucket)["Uploads"]
        self.assertEqual([(u["Key"], u["UploadId"]) for u in uploads], [("big", uid)])

        err = self.assertClientError(
            "InvalidPart", 400, self.complete, "big", uid, [(1, e1), (2, '"' + "0" * 32 + '"')]
        )
        self.assertEqual(err["Error"].get("PartNumber"), "2")
        self.assertClientError("InvalidPart", 400, self.complete, "big", uid, [(1, e1), (3, e2)])
        self.assertClientError(
            "InvalidPartOrder", 400, self.complete, "big", uid, [(2, e2), (1, e1)]
        )
        done = self.complete("big", uid, [(1, e1), (2, e2)])
        combined = hashlib.md5(bytes.fromhex(md5(p1)) + bytes.fromhex(md5(p2))).hexdigest()
        self.assertEqual(done["ETag"], f'"{combined}-2"')
        self.assertEqual(done["Key"], "big")
        self.assertEqual(done["Bucket"], self.bucket)
        got = self.s3.get_object(Bucket=self.bucket, Key="big")
        self.assertEqual(got["ETag"], done["ETag"])
        self.assertEqual(body_of(got), p1 + p2)
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []), [])
        self.assertClientError("NoSuchUpload", 404, self.complete, "big", uid, [(1, e1)])

    def test_small_non_last_part_is_too_small(self):
        uid = self.create("small")
        e1 = self.upload("small", uid, 1, b"a" * 1000)
        e2 = self.upload("small", uid, 2, b"b" * 1000)
        self.assertClientError(
            "EntityTooSmall", 400, self.complete, "small", uid, [(1, e1), (2, e2)]
        )
        # A single small part is fine.
        done = self.complete("small", uid, [(1, e1)])
        self.assertTrue(done["ETag"].endswith('-1"'))
        self.assertEqual(body_of(self.s3.get_object(Bucket=self.bucket, Key="small")), b"a" * 1000)

    def test_upload_ids_belong_to_their_key(self):
        uid = self.create("right")
        etag = self.upload("right", uid, 1, b"x")
        self.assertClientError("NoSuchUpload", 404, self.upload, "wrong", uid, 1, b"x")
        self.assertClientError("NoSuchUpload", 404, self.complete, "wrong", uid, [(1, etag)])
        self.assertClientError(
            "NoSuchUpload", 404, self.s3.list_parts, Bucket=self.bucket, Key="wrong", UploadId=uid
        )
        self.assertClientError(
            "NoSuchUpload", 404, self.s3.abort_multipart_upload,
            Bucket=self.bucket, Key="wrong", UploadId=uid,
        )
        self.assertClientError("404", 404, self.s3.head_object, Bucket=self.bucket, Key="wrong")
        self.complete("right", uid, [(1, etag)])

    def test_list_multipart_uploads_pages_and_prefixes(self):
        made = [(k, self.create(k)) for k in ["m1", "m1", "m1", "m2", "z/a", "z/b"]]
        seen, kw = [], {}
        while True:
            r = self.s3.list_multipart_uploads(Bucket=self.bucket, MaxUploads=2, **kw)
            self.assertLessEqual(len(r.get("Uploads", [])), 2)
            seen += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
            if not r["IsTruncated"]:
                break
            kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
        self.assertEqual(sorted(seen), sorted(made), "every upload exactly once")
        self.assertEqual([k for k, _ in seen], ["m1", "m1", "m1", "m2", "z/a", "z/b"])
        # By key marker alone: every upload of later keys.
        r = self.s3.list_multipart_uploads(Bucket=self.bucket, KeyMarker="m1")
        self.assertEqual([u["Key"] for u in r["Uploads"]], ["m2", "z/a", "z/b"])
        r = self.s3.list_multipart_uploads(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([u["Key"] for u in r["Uploads"]], ["m1", "m1", "m1", "m2"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["z/"])
        r = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix="z/")
        self.assertEqual([u["Key"] for u in r["Uploads"]], ["z/a", "z/b"])

    def test_abort(self):
        uid = self.create("gone")
        self.upload("gone", uid, 1, b"x")
        keep = self.create("kept")
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="gone", UploadId=uid)
        uploads = self.s3.list_multipart_uploads(Bucket=self.bucket)["Uploads"]
        self.assertEqual([u["UploadId"] for u in uploads], [keep])
        self.assertClientError(
            "NoSuchUpload", 404, self.s3.abort_multipart_upload,
            Bucket=self.bucket, Key="gone", UploadId=uid,
        )
        self.assertClientError("NoSuchUpload", 404, self.upload, "gone", uid, 1, b"y")
        self.assertClientError(
            "NoSuchUpload", 404, self.s3.list_parts, Bucket=self.bucket, Key="gone", UploadId=uid
        )

    def test_checksummed_multipart(self):
        p1, p2 = os.urandom(5 * MIB), os.urandom(10)
        uid = self.create("sum", ChecksumAlgorithm="SHA256")
        r1 = self.s3.upload_part(
            Bucket=self.bucket, Key="sum", UploadId=uid, PartNumber=1, Body=p1,
            ChecksumAlgorithm="SHA256",
        )
        r2 = self.s3.upload_part(
            Bucket=self.bucket, Key="sum", UploadId=uid, PartNumber=2, Body=p2,
            ChecksumAlgorithm="SHA256",
        )
        self.assertEqual(r1["ChecksumSHA256"], checksum("SHA256", p1))
        done = self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key="sum", UploadId=uid,
            MultipartUpload={"Parts": [
                {"PartNumber": 1, "ETag": r1["ETag"], "ChecksumSHA256": r1["ChecksumSHA256"]},
                {"PartNumber": 2, "ETag": r2["ETag"], "ChecksumSHA256": r2["ChecksumSHA256"]},
            ]},
        )
        composite = base64.b64encode(
            hashlib.sha256(hashlib.sha256(p1).digest() + hashlib.sha256(p2).digest()).digest()
        ).decode()
        self.assertEqual(done["ChecksumSHA256"], composite + "-2")
        self.assertEqual(done["ChecksumType"], "COMPOSITE")
        got = self.s3.get_object(Bucket=self.bucket, Key="sum", ChecksumMode="ENABLED")
        self.assertEqual(body_of(got), p1 + p2)
        part = self.s3.get_object(
            Bucket=self.bucket, Key="sum", PartNumber=2, ChecksumMode="ENABLED"
        )
        self.assertEqual(body_of(part), p2)
        self.assertEqual(part["ChecksumSHA256"], checksum("SHA256", p2))

    def test_upload_part_copy_part_number_and_attributes(self):
        src = os.urandom(6 * MIB + 123)
        self.put("src", src)
        uid = self.create("dst")
        c1 = self.s3.upload_part_copy(
            Bucket=self.bucket, Key="dst", UploadId=uid, PartNumber=1,
            CopySource={"Bucket": self.bucket, "Key": "src"},
            CopySourceRange=f"bytes=0-{5 * MIB - 1}",
        )["CopyPartResult"]
        c2 = self.s3.upload_part_copy(
            Bucket=self.bucket, Key="dst", UploadId=uid, PartNumber=2,
            CopySource={"Bucket": self.bucket, "Key": "src"},
            CopySourceRange=f"bytes={5 * MIB}-{len(src) - 1}",
        )["CopyPartResult"]
        self.assertEqual(c1["ETag"], f'"{md5(src[:5 * MIB])}"')
        self.assertEqual(c2["ETag"], f'"{md5(src[5 * MIB:])}"')
        self.assertClientError(
            "InvalidRange", 416, self.s3.upload_part_copy,
            Bucket=self.bucket, Key="dst", UploadId=uid, PartNumber=3,
            CopySource={"Bucket": self.bucket, "Key": "src"},
            CopySourceRange=f"bytes=0-{len(src)}",
        )
        self.complete("dst", uid, [(1, c1["ETag"]), (2, c2["ETag"])])
        self.assertEqual(body_of(self.s3.get_object(Bucket=self.bucket, Key="dst")), src)

        p2 = self.s3.get_object(Bucket=self.bucket, Key="dst", PartNumber=2)
        self.assertEqual(p2["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(p2["PartsCount"], 2)
        self.assertEqual(p2["ContentRange"], f"bytes {5 * MIB}-{len(src) - 1}/{len(src)}")
        self.assertEqual(body_of(p2), src[5 * MIB:])
        h1 = self.s3.head_object(Bucket=self.bucket, Key="dst", PartNumber=1)
        self.assertEqual((h1["ContentLength"], h1["PartsCount"]), (5 * MIB, 2))
        self.assertClientError(
            "InvalidPartNumber", 416, self.s3.get_object, Bucket=self.bucket, Key="dst",
            PartNumber=3,
        )
        self.assertClientError(
            "InvalidRequest", 400, self.s3.get_object, Bucket=self.bucket, Key="dst",
            PartNumber=1, Range="bytes=0-1",
        )

        attrs = self.s3.get_object_attributes(
            Bucket=self.bucket, Key="dst",
            ObjectAttributes=["ETag", "ObjectParts", "ObjectSize", "StorageClass"],
        )
        etag = self.s3.head_object(Bucket=self.bucket, Key="dst")["ETag"]
        self.assertEqual(attrs["ETag"], etag.strip('"'))
        self.assertEqual(attrs["ObjectSize"], len(src))
        self.assertEqual(attrs["StorageClass"], "STANDARD")
        self.assertEqual(attrs["ObjectParts"]["TotalPartsCount"], 2)
        self.assertEqual(
            [(p["PartNumber"], p["Size"]) for p in attrs["ObjectParts"]["Parts"]],
            [(1, 5 * MIB), (2, len(src) - 5 * MIB)],
        )
        self.assertNotIn("Checksum", attrs)


class Listing(S3TestCase):
    KEYS = ["a/1", "a/2", "b/x/1", "b/y", "c", "d e/f", "top space", "\u00e9/\u00fc", "\u00e9t\u00e9"]

    def setUp(self):
        super().setUp()
        for k in self.KEYS:
            self.put(k, k.encode())

    def test_v2_prefix_delimiter_and_start_after(self):
        r = self.s3.list_objects_v2(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["c", "top space", "\u00e9t\u00e9"])
        self.assertEqual(
            [p["Prefix"] for p in r["CommonPrefixes"]], ["a/", "b/", "d e/", "\u00e9/"]
        )
        self.assertEqual(r["KeyCount"], 7)
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="b/", Delimiter="/")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["b/y"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["b/x/"])
        self.assertEqual((r["Prefix"], r["Delimiter"]), ("b/", "/"))
        r = self.s3.list_objects_v2(Bucket=self.bucket, StartAfter="c")
        self.assertEqual(
            [c["Key"] for c in r["Contents"]], ["d e/f", "top space", "\u00e9/\u00fc", "\u00e9t\u00e9"]
        )
        self.assertEqual(r["StartAfter"], "c")
        c = r["Contents"][0]
        self.assertEqual((c["Size"], c["ETag"]), (5, f'"{md5(b"d e/f")}"'))
        self.assertNotIn("Owner", c)
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="a/", FetchOwner=True)
        self.assertIn("ID", r["Contents"][0]["Owner"])

    def test_v2_pagination(self):
        seen, token, pages = [], None, 0
        while True:
            kw = {"ContinuationToken": token} if token else {}
            r = self.s3.list_objects_v2(Bucket=self.bucket, MaxKeys=2, Delimiter="/", **kw)
            pages += 1
            self.assertEqual(r["MaxKeys"], 2)
            self.assertLessEqual(r["KeyCount"], 2)
            seen += [c["Key"] for c in r.get("Contents", [])]
            seen += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            if not r["IsTruncated"]:
                self.assertNotIn("NextContinuationToken", r)
                break
            token = r["NextContinuationToken"]
            self.assertEqual(r.get("ContinuationToken"), kw.get("ContinuationToken"))
        self.assertEqual(pages, 4)
        self.assertEqual(
            sorted(seen), sorted(["a/", "b/", "c", "d e/", "top space", "\u00e9/", "\u00e9t\u00e9"])
        )
        r = self.s3.list_objects_v2(Bucket=self.bucket, MaxKeys=0)
        self.assertEqual((r["KeyCount"], r["IsTruncated"]), (0, False))
        self.assertNotIn("Contents", r)
        self.assertNotIn("NextContinuationToken", r)
        r = self.s3.list_object_versions(Bucket=self.bucket, MaxKeys=0)
        self.assertFalse(r["IsTruncated"])
        self.assertNotIn("Versions", r)
        paginator = self.s3.get_paginator("list_objects_v2")
        keys = [
            c["Key"]
            for page in paginator.paginate(Bucket=self.bucket, PaginationConfig={"PageSize": 3})
            for c in page["Contents"]
        ]
        self.assertEqual(keys, sorted(self.KEYS))

    def test_v1_markers(self):
        r = self.s3.list_objects(Bucket=self.bucket, MaxKeys=3)
        self.assertTrue(r["IsTruncated"])
        self.assertEqual([c["Key"] for c in r["Contents"]], ["a/1", "a/2", "b/x/1"])
        self.assertIn("Owner", r["Contents"][0])
        r = self.s3.list_objects(Bucket=self.bucket, Marker="b/x/1", MaxKeys=2)
        self.assertEqual([c["Key"] for c in r["Contents"]], ["b/y", "c"])
        self.assertEqual(r["Marker"], "b/x/1")
        r = self.s3.list_objects(Bucket=self.bucket, Delimiter="/", MaxKeys=2)
        self.assertTrue(r["IsTruncated"])
        self.assertEqual(r["NextMarker"], "b/")
        r = self.s3.list_objects(Bucket=self.bucket, Delimiter="/", Marker="b/")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["c", "top space", "\u00e9t\u00e9"])
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["d e/", "\u00e9/"])
        keys = [
            c["Key"]
            for page in self.s3.get_paginator("list_objects").paginate(
                Bucket=self.bucket, PaginationConfig={"PageSize": 2}
            )
            for c in page["Contents"]
        ]
        self.assertEqual(keys, sorted(self.KEYS))

    def test_encoding_type_url(self):
        # Asked for explicitly, botocore leaves the values encoded: we see the wire format.
        r = self.s3.list_objects_v2(Bucket=self.bucket, EncodingType="url", Delimiter="/")
        self.assertEqual(r["EncodingType"], "url")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["c", "top%20space", "%C3%A9t%C3%A9"])
        self.assertEqual(
            [p["Prefix"] for p in r["CommonPrefixes"]], ["a/", "b/", "d%20e/", "%C3%A9/"]
        )
        r = self.s3.list_objects(Bucket=self.bucket, EncodingType="url", Prefix="\u00e9")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["%C3%A9/%C3%BC", "%C3%A9t%C3%A9"])
        self.assertEqual(r["Prefix"], "%C3%A9")
        r = self.s3.list_object_versions(Bucket=self.bucket, EncodingType="url", Prefix="d")
        self.assertEqual([v["Key"] for v in r["Versions"]], ["d%20e/f"])
        self.assertClientError(
            "InvalidArgument", 400, self.s3.list_objects_v2, Bucket=self.bucket,
            EncodingType="base64",
        )


class Deletes(S3TestCase):
    def test_delete_objects_quiet_and_limit(self):
        for k in ["x1", "x2", "x3"]:
            self.put(k, b"x")
        r = self.s3.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": "x1"}, {"Key": "x2"}], "Quiet": True}
        )
        self.assertNotIn("Deleted", r)
        self.assertNotIn("Errors", r)
        self.put(" x3 ", b"spaces")
        r = self.s3.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": "x3"}, {"Key": "never"}, {"Key": " x3 "}]},
        )
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]), [" x3 ", "never", "x3"])
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.bucket)["KeyCount"], 0)
        too_many = [{"Key": f"k{i}"} for i in range(1001)]
        self.assertClientError(
            "MalformedXML", 400, self.s3.delete_objects, Bucket=self.bucket,
            Delete={"Objects": too_many},
        )
        r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": too_many[:1000]})
        self.assertEqual(len(r["Deleted"]), 1000)


class Versioning(S3TestCase):
    def test_markers_versions_and_suspension(self):
        s3, b = self.s3, self.bucket
        self.assertNotIn("VersionId", self.put("k", b"unversioned"))
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        v1 = self.put("k", b"one")["VersionId"]
        v2 = self.put("k", b"two")["VersionId"]
        self.assertNotEqual(v1, v2)
        d = s3.delete_object(Bucket=b, Key="k")
        self.assertTrue(d["DeleteMarker"])
        marker = d["VersionId"]
        err = self.assertClientError("NoSuchKey", 404, s3.get_object, Bucket=b, Key="k")
        headers = err["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual(headers.get("x-amz-delete-marker"), "true")
        self.assertEqual(headers.get("x-amz-version-id"), marker)
        self.assertClientError(
            "MethodNotAllowed", 405, s3.get_object, Bucket=b, Key="k", VersionId=marker
        )
        self.assertEqual(body_of(s3.get_object(Bucket=b, Key="k", VersionId=v1)), b"one")
        self.assertEqual(body_of(s3.get_object(Bucket=b, Key="k", VersionId="null")), b"unversioned")
        self.assertClientError(
            "NoSuchVersion", 404, s3.get_object, Bucket=b, Key="k", VersionId="nope"
        )
        self.assertEqual(s3.list_objects_v2(Bucket=b)["KeyCount"], 0)

        r = s3.list_object_versions(Bucket=b)
        self.assertEqual([v["VersionId"] for v in r["Versions"]], [v2, v1, "null"])
        self.assertEqual([v["IsLatest"] for v in r["Versions"]], [False, False, False])
        self.assertEqual([(m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]], [(marker, True)])

        d = s3.delete_object(Bucket=b, Key="k", VersionId=v2)
        self.assertEqual(d["VersionId"], v2)
        self.assertNotIn("DeleteMarker", d)
        d = s3.delete_object(Bucket=b, Key="k", VersionId=marker)
        self.assertTrue(d["DeleteMarker"])
        self.assertEqual(body_of(s3.get_object(Bucket=b, Key="k")), b"one")

        # Paging through versions one at a time.
        seen, kw = [], {}
        while True:
            r = s3.list_object_versions(Bucket=b, MaxKeys=1, **kw)
            seen += [v["VersionId"] for v in r.get("Versions", [])]
            if not r["IsTruncated"]:
                break
            kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
        self.assertEqual(seen, [v1, "null"])

        # A prefix whose only keys are deleted is no common prefix.
        self.put("gone/x", b"x")
        s3.delete_object(Bucket=b, Key="gone/x")
        r = s3.list_objects_v2(Bucket=b, Delimiter="/")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["k"])
        self.assertNotIn("CommonPrefixes", r)
        r = s3.list_object_versions(Bucket=b, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["gone/"])
        s3.delete_objects(
            Bucket=b,
            Delete={"Objects": [
                {"Key": "gone/x", "VersionId": v["VersionId"]}
                for v in s3.list_object_versions(Bucket=b, Prefix="gone/")["Versions"]
                + s3.list_object_versions(Bucket=b, Prefix="gone/")["DeleteMarkers"]
            ]},
        )
        self.assertNotIn("Versions", s3.list_object_versions(Bucket=b, Prefix="gone/"))

        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        self.assertEqual(s3.get_bucket_versioning(Bucket=b)["Status"], "Suspended")
        self.assertEqual(self.put("k", b"suspended 1")["VersionId"], "null")
        self.assertEqual(self.put("k", b"suspended 2")["VersionId"], "null")
        r = s3.list_object_versions(Bucket=b)
        self.assertEqual([v["VersionId"] for v in r["Versions"]], ["null", v1])
        self.assertEqual(body_of(s3.get_object(Bucket=b, Key="k", VersionId=v1)), b"one")
        self.assertEqual(body_of(s3.get_object(Bucket=b, Key="k")), b"suspended 2")
        d = s3.delete_object(Bucket=b, Key="k")
        self.assertEqual((d["DeleteMarker"], d["VersionId"]), (True, "null"))


class Addressing(S3TestCase):
    HOST = "s3.localhost.localstack.cloud"

    def test_virtual_hosted_style(self):
        try:
            socket.getaddrinfo(f"{self.bucket}.{self.HOST}", PORT)
            patched = None
        except socket.gaierror:
            # The name resolves to 127.0.0.1 through public DNS, which this machine cannot
            # reach: resolve it in-process instead, so the request still carries the
            # virtual host in its Host header.
            print(
                f"\nnote: {self.HOST} does not resolve here; resolving *.{self.HOST} to "
                "127.0.0.1 inside this test",
                file=sys.stderr,
            )
            patched = socket.getaddrinfo

            def fake(host, *args, **kwargs):
                if isinstance(host, str) and host.endswith(self.HOST):
                    host = "127.0.0.1"
                return patched(host, *args, **kwargs)

            socket.getaddrinfo = fake
        try:
            v = client(endpoint=f"http://{self.HOST}:{PORT}", addressing="virtual")
            put = v.put_object(Bucket=self.bucket, Key="dir/v key", Body=b"virtual")
            got = v.get_object(Bucket=self.bucket, Key="dir/v key")
            self.assertEqual(body_of(got), b"virtual")
            self.assertEqual(got["ETag"], put["ETag"])
            keys = [c["Key"] for c in v.list_objects_v2(Bucket=self.bucket)["Contents"]]
            self.assertEqual(keys, ["dir/v key"])
        finally:
            if patched:
                socket.getaddrinfo = patched
        # The path-style client sees the same object.
        self.assertEqual(body_of(self.s3.get_object(Bucket=self.bucket, Key="dir/v key")), b"virtual")

    def test_virtual_host_header_raw(self):
        self.put("raw", b"by host header")
        status, _, data = raw_request("GET", "/raw", host=f"{self.bucket}.{self.HOST}:{PORT}")
        self.assertEqual((status, data), (200, b"by host header"))


class CopyAndTags(S3TestCase):
    def test_tagging_directive(self):
        self.put("src", b"tagged", Tagging="a=1&b=two%20words")
        tags = self.s3.get_object_tagging(Bucket=self.bucket, Key="src")["TagSet"]
        self.assertEqual(tags, [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two words"}])
        src = {"Bucket": self.bucket, "Key": "src"}
        self.s3.copy_object(Bucket=self.bucket, Key="copy", CopySource=src)
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key="copy")["TagSet"], tags)
        self.s3.copy_object(
            Bucket=self.bucket, Key="replaced", CopySource=src, TaggingDirective="REPLACE",
            Tagging="c=3",
        )
        self.assertEqual(
            self.s3.get_object_tagging(Bucket=self.bucket, Key="replaced")["TagSet"],
            [{"Key": "c", "Value": "3"}],
        )
        self.assertEqual(
            self.s3.head_object(Bucket=self.bucket, Key="replaced")["ResponseMetadata"][
                "HTTPHeaders"
            ].get("x-amz-tagging-count"),
            "1",
        )
        self.s3.delete_object_tagging(Bucket=self.bucket, Key="replaced")
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key="replaced")["TagSet"], [])

    def test_copy_preserves_body_and_checksum(self):
        data = os.urandom(3000)
        self.put("s", data, ChecksumCRC32C=checksum("CRC32C", data))
        r = self.s3.copy_object(
            Bucket=self.bucket, Key="d", CopySource={"Bucket": self.bucket, "Key": "s"}
        )
        self.assertEqual(r["CopyObjectResult"]["ETag"], f'"{md5(data)}"')
        self.assertEqual(r["CopyObjectResult"]["ChecksumCRC32C"], checksum("CRC32C", data))
        got = self.s3.get_object(Bucket=self.bucket, Key="d", ChecksumMode="ENABLED")
        self.assertEqual(body_of(got), data)
        self.assertEqual(got["ChecksumCRC32C"], checksum("CRC32C", data))

    def test_bucket_tagging(self):
        self.assertClientError("NoSuchTagSet", 404, self.s3.get_bucket_tagging, Bucket=self.bucket)
        self.s3.put_bucket_tagging(
            Bucket=self.bucket, Tagging={"TagSet": [{"Key": "k", "Value": "v & <w>"}]}
        )
        self.assertEqual(
            self.s3.get_bucket_tagging(Bucket=self.bucket)["TagSet"],
            [{"Key": "k", "Value": "v & <w>"}],
        )


class Keys(S3TestCase):
    ODD = [
        "a+b c", "100%", "q?x=1&y", "hash#frag", "semi;colon,comma", "tilde~", "dbl//slash",
        "trailing/", "\u00fc/\u65e5\u672c", "sp ace/ ", "*star*", "quote'\"", "<tag>&amp;",
    ]

    def test_odd_keys_round_trip(self):
        for k in self.ODD:
            self.put(k, k.encode())
        for k in self.ODD:
            with self.subTest(key=k):
                self.assertEqual(body_of(self.s3.get_object(Bucket=self.bucket, Key=k)), k.encode())
                self.s3.copy_object(
                    Bucket=self.bucket, Key="copies/" + k, CopySource={"Bucket": self.bucket, "Key": k}
                )
                got = self.s3.get_object(Bucket=self.bucket, Key="copies/" + k)
                self.assertEqual(body_of(got), k.encode())
        keys = [c["Key"] for c in self.s3.list_objects_v2(Bucket=self.bucket)["Contents"]]
        self.assertEqual(keys, sorted(self.ODD + ["copies/" + k for k in self.ODD]))
        keys = [c["Key"] for c in self.s3.list_objects(Bucket=self.bucket)["Contents"]]
        self.assertEqual(keys, sorted(self.ODD + ["copies/" + k for k in self.ODD]))
        r = self.s3.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in self.ODD]}
        )
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]), sorted(self.ODD))
        self.assertNotIn("Errors", r)
        for k in self.ODD:
            self.s3.delete_object(Bucket=self.bucket, Key="copies/" + k)
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.bucket)["KeyCount"], 0)

    def test_empty_body(self):
        r = self.put("empty", b"")
        self.assertEqual(r["ETag"], f'"{md5(b"")}"')
        got = self.s3.get_object(Bucket=self.bucket, Key="empty")
        self.assertEqual((got["ContentLength"], body_of(got)), (0, b""))


class Presigned(S3TestCase):
    def test_sigv4_presigned_get_and_put(self):
        v4 = client(signature_version="s3v4")
        put_url = v4.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": "p/k v"}, ExpiresIn=300
        )
        self.assertIn("X-Amz-Signature=", put_url)
        u = urllib.parse.urlparse(put_url)
        status, _, body = raw_request("PUT", f"{u.path}?{u.query}", body=b"presigned put")
        self.assertEqual(status, 200, body)
        get_url = v4.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": "p/k v", "ResponseContentType": "text/x-pre"},
            ExpiresIn=300,
        )
        u = urllib.parse.urlparse(get_url)
        status, headers, body = raw_request("GET", f"{u.path}?{u.query}")
        self.assertEqual((status, body), (200, b"presigned put"))
        self.assertEqual(headers.get("content-type"), "text/x-pre")


class Transfers(S3TestCase):
    def test_upload_and_download_file(self):
        import tempfile

        from boto3.s3.transfer import TransferConfig

        data = os.urandom(12 * MIB + 7)
        cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
            with open(src, "wb") as f:
                f.write(data)
            self.s3.upload_file(src, self.bucket, "t/big", Config=cfg)
            head = self.s3.head_object(Bucket=self.bucket, Key="t/big")
            self.assertEqual(head["ContentLength"], len(data))
            self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
            self.s3.download_file(self.bucket, "t/big", dst, Config=cfg)
            with open(dst, "rb") as f:
                self.assertEqual(f.read(), data)


class AccountsAndRegions(S3TestCase):
    def test_accounts_are_separate_and_names_global(self):
        other = client(key="111122223333")
        names = [b["Name"] for b in other.list_buckets()["Buckets"]]
        self.assertNotIn(self.bucket, names)
        self.assertClientError("NoSuchBucket", 404, other.list_objects_v2, Bucket=self.bucket)
        self.assertClientError("BucketAlreadyExists", 409, other.create_bucket, Bucket=self.bucket)
        mine = "acct-" + uuid.uuid4().hex[:16]
        other.create_bucket(Bucket=mine)
        self.assertEqual([b["Name"] for b in other.list_buckets()["Buckets"]], [mine])
        self.assertNotIn(mine, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])
        owner = other.list_buckets()["Owner"]["ID"]
        self.assertNotEqual(owner, self.s3.list_buckets()["Owner"]["ID"])
        other.delete_bucket(Bucket=mine)

    def test_bucket_regions(self):
        eu = client(region="eu-west-1")
        name = "eu-" + uuid.uuid4().hex[:16]
        eu.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        self.assertEqual(eu.get_bucket_location(Bucket=name)["LocationConstraint"], "eu-west-1")
        head = self.s3.head_bucket(Bucket=name)
        self.assertEqual(head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"], "eu-west-1")
        regions = {b["Name"]: b.get("BucketRegion") for b in self.s3.list_buckets()["Buckets"]}
        self.assertEqual((regions[name], regions[self.bucket]), ("eu-west-1", "us-east-1"))
        self.assertIsNone(self.s3.get_bucket_location(Bucket=self.bucket)["LocationConstraint"])
        self.assertClientError(
            "BucketAlreadyOwnedByYou", 409, eu.create_bucket, Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        eu.delete_bucket(Bucket=name)


class Errors(S3TestCase):
    def test_unknown_operation_is_not_implemented(self):
        err = self.assertClientError(
            "NotImplemented", 501, self.s3.get_bucket_acl, Bucket=self.bucket
        )
        self.assertIn("GetBucketAcl", err["Error"]["Message"])
        err = self.assertClientError(
            "NotImplemented", 501, self.s3.get_bucket_encryption, Bucket=self.bucket
        )
        self.assertIn("GetBucketEncryption", err["Error"]["Message"])

    def test_malformed_xml_body(self):
        status, headers, body = raw_request(
            "PUT", f"/{self.bucket}?tagging", body=b"<Tagging><TagSet><Tag><Key>k</Key>"
        )
        self.assertEqual(status, 400, body)
        self.assertIn(b"<Code>MalformedXML</Code>", body)
        self.assertIn("xml", headers.get("content-type", ""))
        status, _, body = raw_request("PUT", f"/{self.bucket}?tagging", body=b"not xml at all")
        self.assertEqual(status, 400, body)
        self.assertIn(b"<Code>MalformedXML</Code>", body)

    def test_missing_bucket_and_key(self):
        err = self.assertClientError(
            "NoSuchBucket", 404, self.s3.get_object, Bucket="no-such-bucket-here", Key="k"
        )
        self.assertEqual(err["Error"].get("BucketName"), "no-such-bucket-here")
        err = self.assertClientError(
            "NoSuchKey", 404, self.s3.get_object, Bucket=self.bucket, Key="missing/key"
        )
        self.assertEqual(err["Error"].get("Key"), "missing/key")
        self.assertClientError("404", 404, self.s3.head_object, Bucket=self.bucket, Key="missing")
        self.assertClientError("404", 404, self.s3.head_bucket, Bucket="no-such-bucket-here")
        self.assertClientError(
            "BucketNotEmpty", 409, self._fill_and_delete_bucket
        )

    def _fill_and_delete_bucket(self):
        self.put("x", b"x")
        self.s3.delete_bucket(Bucket=self.bucket)


if __name__ == "__main__":
    unittest.main()
