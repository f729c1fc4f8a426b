#!/usr/bin/env python3
"""Turns the botocore service models into the emulator's protocol tables.

The tables are data, not code: one static `Model` per service with its metadata, its
operations (HTTP binding, input, output, errors) and its shapes (kind, members with their
locations and wire names, required members, ranges, patterns, enums, timestamp formats, error
codes and statuses). `emulator/src/protocol/model.rs` defines the types; this script writes
`emulator/src/protocol/models/<service>.rs`.

The models come from one pinned botocore release, read straight from its wheel (or from an
installed botocore of exactly that version), so the output never depends on what else is
installed. Usage:

    python3 codegen/models.py [--wheel botocore-X-py3-none-any.whl] [--check]

`--check` writes nothing and exits 1 when a committed file differs from what the models give
(tests/run runs it, so the committed tables stay current). Services and overlays (facts the
botocore JSON lacks, such as SQS's query-protocol error codes) are listed in
`codegen/services.json`.
"""

import argparse
import gzip
import io
import json
import os
import sys
import zipfile

BOTOCORE = "1.43.11"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "emulator", "src", "protocol", "models")

KINDS = {
    "structure": "Structure", "list": "List", "map": "Map", "string": "String",
    "integer": "Integer", "long": "Long", "boolean": "Boolean", "timestamp": "Timestamp",
    "blob": "Blob", "float": "Float", "double": "Double", "bigdecimal": "BigDecimal",
    "biginteger": "BigInteger",
}
LOCATIONS = {
    None: "Body", "header": "Header", "headers": "Headers", "uri": "Uri",
    "querystring": "Query", "statusCode": "Status",
}
PROTOCOLS = {"json": "Json", "query": "Query", "rest-xml": "RestXml", "rest-json": "RestJson", "ec2": "Ec2"}
# Shape flags (keep in sync with `model::flags`).
SHAPE_FLAGS = [
    ("flattened", 1), ("sensitive", 2), ("streaming", 4), ("union", 8),
    ("exception", 16), ("fault", 32), ("eventstream", 64), ("document", 128),
    ("event", 256), ("requiresLength", 512),
]
# Member flags.
MEMBER_FLAGS = [
    ("flattened", 1), ("xmlAttribute", 2), ("idempotencyToken", 4), ("jsonvalue", 8),
    ("hostLabel", 16), ("streaming", 32), ("eventpayload", 64), ("deprecated", 128),
]
# Operation flags.
OP_FLAGS = [("readonly", 1), ("idempotent", 2), ("deprecated", 4)]


class Models:
    """The service models of one botocore release."""

    def __init__(self, wheel):
        self.zip = zipfile.ZipFile(wheel) if wheel else None
        if self.zip is None:
            import botocore

            if botocore.__version__ != BOTOCORE:
                sys.exit(
                    f"codegen: botocore {BOTOCORE} is needed, {botocore.__version__} is installed;"
                    f" pass --wheel (pip download --no-deps botocore=={BOTOCORE})"
                )
            self.data = os.path.join(os.path.dirname(botocore.__file__), "data")
        elif f"botocore-{BOTOCORE}.dist-info/METADATA" not in self.zip.namelist():
            sys.exit(f"codegen: {wheel} is not the botocore {BOTOCORE} wheel")

    def services(self):
        """Every service of the release with its newest API version."""
        found = {}
        if self.zip is not None:
            for n in self.zip.namelist():
                p = n.split("/")
                if len(p) == 5 and p[:2] == ["botocore", "data"] and p[4] == "service-2.json.gz":
                    found[p[2]] = max(found.get(p[2], ""), p[3])
        else:
            for name in os.listdir(self.data):
                if not os.path.isdir(os.path.join(self.data, name)):
                    continue
                versions = [v for v in os.listdir(os.path.join(self.data, name))
                            if os.path.exists(os.path.join(self.data, name, v, "service-2.json.gz"))]
                if versions:
                    found[name] = max(versions)
        return sorted(found.items())

    def load(self, service, version):
        rel = f"{service}/{version}/service-2.json.gz"
        if self.zip is not None:
            raw = self.zip.read(f"botocore/data/{rel}")
        else:
            with open(os.path.join(self.data, rel), "rb") as f:
                raw = f.read()
        return json.load(io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw)), "utf-8"))


def lit(s):
    """A Rust string literal."""
    return json.dumps(s, ensure_ascii=False)


def opt(v, f=lit):
    return "None" if v is None else f"Some({f(v)})"


def num(v):
    """A range bound as an f64 literal."""
    return f"{float(v)!r}".replace("inf", "f64::INFINITY")


def flags(d, table):
    return sum(bit for key, bit in table if d.get(key))


def member(name, m, index, required):
    fields = [f"name: {lit(name)}", f"shape: {index[m['shape']]}"]
    loc = LOCATIONS[m.get("location")]
    if loc != "Body":
        fields.append(f"loc: Loc::{loc}")
    if "locationName" in m:
        fields.append(f"wire: Some({lit(m['locationName'])})")
    if "queryName" in m:
        fields.append(f"query_name: Some({lit(m['queryName'])})")
    if "xmlNamespace" in m:
        fields.append(f"xml_ns: Some({lit(m['xmlNamespace'].get('uri', ''))})")
    if required:
        fields.append("required: true")
    f = flags(m, MEMBER_FLAGS)
    if f:
        fields.append(f"flags: {f}")
    return "M { " + ", ".join(fields) + ", ..M::DEFAULT }"


def error_info(name, shape, overlay):
    if not shape.get("exception"):
        return None
    e = shape.get("error", {})
    code = overlay.get("query_errors", {}).get(name, e.get("code", name))
    status = e.get("httpStatusCode", 500 if shape.get("fault") else 400)
    sender = e.get("senderFault", not shape.get("fault"))
    return f"E {{ code: {lit(code)}, status: {status}, sender: {'true' if sender else 'false'} }}"


def shape_line(name, s, index, overlay):
    fields = [f"name: {lit(name)}", f"kind: K::{KINDS[s['type']]}"]
    required = set(s.get("required", []))
    members = []
    if s["type"] == "structure":
        members = [member(n, m, index, n in required) for n, m in s.get("members", {}).items()]
    elif s["type"] == "list":
        members = [member("member", s["member"], index, False)]
    elif s["type"] == "map":
        members = [member("key", s["key"], index, False), member("value", s["value"], index, False)]
    if members:
        fields.append("members: &[" + ", ".join(members) + "]")
    if "payload" in s:
        names = list(s.get("members", {}))
        fields.append(f"payload: Some({names.index(s['payload'])})")
    if "min" in s:
        fields.append(f"min: Some({num(s['min'])})")
    if "max" in s:
        fields.append(f"max: Some({num(s['max'])})")
    if "pattern" in s:
        fields.append(f"pattern: Some({lit(s['pattern'])})")
    if "enum" in s:
        fields.append("enums: &[" + ", ".join(lit(v) for v in s["enum"]) + "]")
    if "timestampFormat" in s:
        fields.append(f"timestamp: Some({lit(s['timestampFormat'])})")
    if "locationName" in s:
        fields.append(f"wire: Some({lit(s['locationName'])})")
    if "xmlNamespace" in s:
        fields.append(f"xml_ns: Some({lit(s['xmlNamespace'].get('uri', ''))})")
    err = error_info(name, s, overlay)
    if err:
        fields.append(f"error: Some({err})")
    f = flags(s, SHAPE_FLAGS)
    if f:
        fields.append(f"flags: {f}")
    return "    S { " + ", ".join(fields) + ", ..S::DEFAULT },"


def operation_line(o, index, overlay):
    http = o["http"]
    fields = [
        f"name: {lit(o['name'])}",
        f"method: {lit(http['method'])}",
        f"uri: {lit(http['requestUri'])}",
    ]
    if "responseCode" in http:
        fields.append(f"code: {http['responseCode']}")
    if "input" in o:
        fields.append(f"input: Some({index[o['input']['shape']]})")
        if "locationName" in o["input"]:
            fields.append(f"input_wire: Some({lit(o['input']['locationName'])})")
        if "xmlNamespace" in o["input"]:
            fields.append(f"input_ns: Some({lit(o['input']['xmlNamespace'].get('uri', ''))})")
    if "output" in o:
        fields.append(f"output: Some({index[o['output']['shape']]})")
        root = overlay.get("output_roots", {}).get(o["name"])
        if root:
            fields.append(f"output_wire: Some({lit(root)})")
        if "resultWrapper" in o["output"]:
            fields.append(f"result_wrapper: Some({lit(o['output']['resultWrapper'])})")
    errors = [index[e["shape"]] for e in o.get("errors", [])]
    if errors:
        fields.append("errors: &[" + ", ".join(map(str, errors)) + "]")
    checksum = o.get("httpChecksum", {})
    if checksum.get("requestChecksumRequired") or o.get("httpChecksumRequired"):
        fields.append("checksum_required: true")
    if "endpoint" in o and "hostPrefix" in o["endpoint"]:
        fields.append(f"host_prefix: Some({lit(o['endpoint']['hostPrefix'])})")
    f = flags(o, OP_FLAGS)
    if f:
        fields.append(f"flags: {f}")
    return "    O { " + ", ".join(fields) + ", ..O::DEFAULT },"


def render(entry, model):
    meta = model["metadata"]
    overlay = entry.get("overlay", {})
    names = sorted(model["shapes"])
    index = {n: i for i, n in enumerate(names)}
    protocols = meta.get("protocols", [meta["protocol"]]) + overlay.get("extra_protocols", [])
    protos = ", ".join("Protocol::" + PROTOCOLS[p] for p in protocols if p in PROTOCOLS)
    signing = meta.get("signingName", meta["endpointPrefix"])
    xmlns = meta.get("xmlNamespace", overlay.get("xml_namespace"))
    lines = [
        f"//! `{entry['service']}` {meta['apiVersion']}: generated by `codegen/models.py` from botocore",
        f"//! {BOTOCORE} (`data/{entry['service']}/{entry['version']}/service-2.json.gz`). Do not edit:",
        "//! run the script instead.",
        "",
        "USE",
        "",
        "/// The model.",
        "pub static MODEL: Model = Model {",
        "    meta: Meta {",
        f"        name: {lit(entry['service'])},",
        f"        api_version: {lit(meta['apiVersion'])},",
        f"        full_name: {lit(meta['serviceFullName'])},",
        f"        protocols: &[{protos}],",
        f"        json_version: {opt(meta.get('jsonVersion'))},",
        f"        target_prefix: {opt(meta.get('targetPrefix'))},",
        f"        signing_name: {lit(signing)},",
        f"        endpoint_prefix: {lit(meta['endpointPrefix'])},",
        f"        xml_namespace: {opt(xmlns)},",
        f"        query_compatible: {'true' if 'awsQueryCompatible' in meta else 'false'},",
        "    },",
        "    operations: OPERATIONS,",
        "    shapes: SHAPES,",
        "};",
        "",
        "static OPERATIONS: &[O] = &[",
    ]
    lines += [operation_line(model["operations"][n], index, overlay) for n in sorted(model["operations"])]
    lines += ["];", "", "static SHAPES: &[S] = &["]
    lines += [shape_line(n, model["shapes"][n], index, overlay) for n in names]
    lines += ["];", ""]
    text = "\n".join(lines)
    used = [n for n in ("E", "K", "Loc", "M", "Meta", "Model", "O", "Protocol", "S")
            if f"{n} {{" in text or f"{n}::" in text or n in ("Meta", "Model", "O", "S")]
    return text.replace("USE", "use crate::protocol::model::{" + ", ".join(used) + "};", 1)


def render_catalog(models):
    """`catalog.rs`: every AWS service of the release, so a request for one podstack does not
    emulate is answered in that service's protocol, naming it."""
    lines = [
        f"//! Every service of botocore {BOTOCORE}: generated by `codegen/models.py`. Do not edit:",
        "//! run the script instead.",
        "",
        "use crate::protocol::model::{Known, Protocol};",
        "",
        "/// Every AWS service, sorted by name.",
        "pub static CATALOG: &[Known] = &[",
    ]
    for name, version in models.services():
        meta = models.load(name, version)["metadata"]
        protocols = [PROTOCOLS[p] for p in meta.get("protocols", [meta["protocol"]]) if p in PROTOCOLS]
        if not protocols:
            continue
        lines.append(
            f"    Known {{ name: {lit(name)}, full_name: {lit(meta['serviceFullName'])}, "
            f"signing_name: {lit(meta.get('signingName', meta['endpointPrefix']))}, "
            f"endpoint_prefix: {lit(meta['endpointPrefix'])}, "
            f"target_prefix: {opt(meta.get('targetPrefix'))}, "
            f"protocol: Protocol::{protocols[0]}, json_version: {opt(meta.get('jsonVersion'))} }},"
        )
    lines += ["];", ""]
    return "\n".join(lines)


def render_index(entries):
    """`models.rs`: one module per service; rustfmt leaves the one-line-per-shape tables alone."""
    lines = [
        "//! The generated model tables, one module per service (`codegen/models.py` writes this",
        "//! file and the modules from `codegen/services.json`). Do not edit: run the script.",
        "",
        "/// The botocore release the tables come from.",
        f"pub const BOTOCORE: &str = {lit(BOTOCORE)};",
        "",
    ]
    for module in sorted(["catalog"] + [e["module"] for e in entries]):
        lines += ["#[rustfmt::skip]", f"pub mod {module};"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", help=f"the botocore {BOTOCORE} wheel (default: installed botocore)")
    ap.add_argument("--check", action="store_true", help="compare, write nothing")
    args = ap.parse_args()
    models = Models(args.wheel)
    with open(os.path.join(ROOT, "codegen", "services.json"), encoding="utf-8") as f:
        entries = json.load(f)["services"]
    stale = []
    outputs = [(os.path.join(OUT, e["module"] + ".rs"), lambda e=e: render(e, models.load(e["service"], e["version"]))) for e in entries]
    outputs.append((os.path.join(OUT, "catalog.rs"), lambda: render_catalog(models)))
    outputs.append((OUT + ".rs", lambda: render_index(entries)))
    for path, make in outputs:
        text = make()
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old == text:
            continue
        if args.check:
            stale.append(os.path.relpath(path, ROOT))
        else:
            os.makedirs(OUT, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if stale:
        print("codegen: these generated files are not current; run python3 codegen/models.py:",
              *stale, sep="\n  ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
