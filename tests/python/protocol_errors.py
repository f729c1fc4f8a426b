"""Every protocol's answers to bad requests, read by botocore's own response parsers.

For each protocol (JSON 1.0 and 1.1, query, REST-XML, REST-JSON) a malformed request, an
operation the model does not have, and an operation podstack does not implement are sent raw;
each answer is parsed with the parser botocore uses for that service, which must find the
error code, the HTTP status and a message in it. Services podstack does not emulate are
answered in their own protocol too. Unsigned STS calls (no credential scope) reach STS.
"""

import http.client
import os
import unittest
import urllib.parse

import boto3
import botocore.parsers
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

ENDPOINT = os.environ["PODSTACK_ENDPOINT"]
URL = urllib.parse.urlparse(ENDPOINT)
SESSION = botocore.session.get_session()


def auth(scope):
    """An Authorization header naming a credential scope (podstack reads, not verifies, it)."""
    return (
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/"
        f"{scope}/aws4_request, SignedHeaders=host, Signature=00"
    )


def send(method, path, headers=None, body=b""):
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def parsed(service, status, headers, body):
    """The answer as botocore reads it for `service` (its protocol, any output shape);
    `sqs-query` is SQS read by the query protocol's parser, as older SDKs do."""
    protocol = "query" if service == "sqs-query" else None
    model = SESSION.get_service_model(service.removesuffix("-query"))
    parser = botocore.parsers.create_parser(protocol or model.metadata["protocol"])
    op = model.operation_model(model.operation_names[0])
    return parser.parse(
        {"status_code": status, "headers": headers, "body": body}, op.output_shape
    )


def json_call(scope, target, version, body):
    return send(
        "POST",
        "/",
        {
            "X-Amz-Target": target,
            "Content-Type": f"application/x-amz-json-{version}",
            "Authorization": auth(scope),
        },
        body,
    )


def form_call(scope, form):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if scope:
        headers["Authorization"] = auth(scope)
    return send("POST", "/", headers, urllib.parse.urlencode(form).encode())


class Errors(unittest.TestCase):
    def check(self, service, answer, status, code, message=None):
        got_status, headers, body = answer
        self.assertEqual(got_status, status, body)
        p = parsed(service, got_status, headers, body)
        self.assertIn("Error", p, p)
        self.assertEqual(p["Error"]["Code"], code, p)
        self.assertEqual(p["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertTrue(p["Error"].get("Message"), p)
        if message:
            self.assertIn(message, p["Error"]["Message"])
        return p

    def test_json_1_0_sqs(self):
        call = lambda target, body: json_call("sqs", target, "1.0", body)
        self.check("sqs", call("AmazonSQS.NoSuchOperation", b"{}"), 400, "UnknownOperationException")
        self.check("sqs", call("AmazonSQS.ListQueues", b"{not json"), 400, "SerializationException")
        self.check("sqs", call("AmazonSQS.AddPermission", b"{}"), 501, "NotImplemented", "AddPermission")

    def test_json_1_1_secretsmanager(self):
        call = lambda target, body: json_call("secretsmanager", target, "1.1", body)
        self.check("secretsmanager", call("secretsmanager.Nope", b"{}"), 400, "UnknownOperationException")
        self.check("secretsmanager", call("secretsmanager.ListSecrets", b"[1, 2]"), 400, "SerializationException")
        self.check("secretsmanager", call("secretsmanager.RotateSecret", b"{}"), 501, "NotImplemented", "RotateSecret")
        self.check("secretsmanager", call("secretsmanager.GetSecretValue", b"{}"), 400, "ValidationException",
                   "Value null at 'secretId' failed to satisfy constraint: Member must not be null")
        self.check("secretsmanager", call("secretsmanager.GetSecretValue", b'{"SecretId": 5}'), 400,
                   "SerializationException")

    def test_query_sts(self):
        v = {"Version": "2011-06-15"}
        self.check("sts", form_call("sts", {**v, "Action": "NoSuchAction"}), 400, "InvalidAction")
        self.check("sts", form_call("sts", v), 400, "MissingAction")
        bad = {**v, "Action": "AssumeRole", "RoleArn": "arn:aws:iam::111122223333:role/r",
               "RoleSessionName": "s", "DurationSeconds": "soon"}
        self.check("sts", form_call("sts", bad), 400, "InvalidParameterValue", "DurationSeconds")
        short = {**v, "Action": "AssumeRole", "RoleArn": "arn:aws:iam::111122223333:role/r",
                 "RoleSessionName": "s"}
        self.check("sts", form_call("sts", short), 400, "ValidationError",
                   "1 validation error detected: Value 's' at 'roleSessionName' failed to satisfy "
                   "constraint: Member must have length greater than or equal to 2")
        p = self.check("sts", form_call("sts", {**v, "Action": "GetFederationToken", "Name": "fed"}),
                       501, "NotImplemented", "GetFederationToken")
        self.assertTrue(p["ResponseMetadata"].get("RequestId"), p)

    def test_query_sqs(self):
        v = {"Version": "2012-11-05"}
        self.check("sqs-query", form_call("sqs", {**v, "Action": "Nope"}), 400, "InvalidAction")
        self.check("sqs-query", form_call("sqs", {**v, "Action": "AddPermission"}), 501, "NotImplemented")

    def test_rest_xml_s3(self):
        bucket = "protocol-errors"
        status, _, _ = send("PUT", f"/{bucket}", {"Authorization": auth("s3")})
        self.assertEqual(status, 200)
        h = {"Authorization": auth("s3")}
        self.check("s3", send("PUT", f"/{bucket}?tagging", h, b"<Tagging><oops"), 400, "MalformedXML")
        p = self.check("s3", send("GET", f"/{bucket}?acl", h), 501, "NotImplemented", "GetBucketAcl")
        self.assertTrue(p["ResponseMetadata"].get("RequestId"), p)
        self.check("s3", send("GET", f"/{bucket}/k?legal-hold", h), 501, "NotImplemented", "GetObjectLegalHold")
        self.check("s3", send("PATCH", f"/{bucket}", h), 405, "MethodNotAllowed")

    def test_services_podstack_does_not_emulate_answer_in_their_protocol(self):
        ddb = json_call("dynamodb", "DynamoDB_20120810.ListTables", "1.0", b"{}")
        self.check("dynamodb", ddb, 501, "NotImplemented", "DynamoDB")
        lam = send("GET", "/2015-03-31/functions/", {"Authorization": auth("lambda")})
        self.check("lambda", lam, 501, "NotImplemented", "Lambda")
        r53 = send("GET", "/2013-04-01/hostedzone", {"Authorization": auth("route53")})
        self.check("route53", r53, 501, "NotImplemented", "Route 53")
        sns = form_call("sns", {"Action": "ListTopics", "Version": "2010-03-31"})
        self.check("sns", sns, 501, "NotImplemented", "Simple Notification Service")

    def test_unsigned_sts_calls_reach_sts(self):
        sts = boto3.client("sts", endpoint_url=ENDPOINT, region_name="us-east-1",
                           config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
        out = sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::111122223333:role/web", RoleSessionName="web",
            WebIdentityToken="a.b.c")
        self.assertTrue(out["Credentials"]["AccessKeyId"].startswith("ASIA"))
        self.assertEqual(out["AssumedRoleUser"]["Arn"],
                         "arn:aws:sts::111122223333:assumed-role/web/web")
        with self.assertRaises(sts.exceptions.ClientError) as e:
            sts.get_federation_token(Name="fed")
        self.assertEqual(e.exception.response["Error"]["Code"], "NotImplemented")


if __name__ == "__main__":
    unittest.main()
