//! The real aws CLI against `podstack start`: `s3` high-level commands and `s3api` calls,
//! with bodies compared byte for byte and error exit codes and messages checked.

use std::path::Path;

use e2e::{Emulator, have_aws, md5_hex, pseudo_random, split_url};
use serde_json::Value;

fn write(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, data).expect("write file");
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `aws s3 ls` object lines (`2026-01-02 03:04:05       1234 key`) as (size, key).
fn ls_entries(out: &str) -> Vec<(u64, String)> {
    out.lines()
        .filter(|l| !l.trim_start().starts_with("PRE "))
        .map(|l| {
            let rest = l
                .get("2026-01-02 03:04:05".len()..)
                .unwrap_or_else(|| panic!("not an ls line: {l:?}"))
                .trim_start();
            let (size, key) = rest.split_once(' ').expect("size and key");
            (size.parse().expect("size"), key.to_owned())
        })
        .collect()
}

#[test]
fn buckets_copy_and_multipart() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let dir = emu.scratch();

    let out = emu.aws_ok(&["s3", "mb", "s3://cli-bucket"]);
    assert_eq!(out.trim(), "make_bucket: cli-bucket");
    let out = emu.aws_ok(&["s3", "ls"]);
    assert!(
        out.lines().any(|l| l.ends_with(" cli-bucket")),
        "ls shows the bucket: {out}"
    );

    // A small file up and down.
    let small = dir.join("small.txt");
    write(&small, b"hello podstack\n");
    emu.aws_ok(&[
        "s3",
        "cp",
        s(&small),
        "s3://cli-bucket/docs/small.txt",
        "--only-show-errors",
    ]);
    let back = dir.join("small.back");
    emu.aws_ok(&[
        "s3",
        "cp",
        "s3://cli-bucket/docs/small.txt",
        s(&back),
        "--only-show-errors",
    ]);
    assert_eq!(read(&back), b"hello podstack\n");
    let out = emu.aws_ok(&["s3", "cp", "s3://cli-bucket/docs/small.txt", "-"]);
    assert_eq!(out, "hello podstack\n");

    // ~20 MB: the CLI switches to multipart (8 MiB parts: 3 parts).
    let big_data = pseudo_random(20 * 1000 * 1000 + 123, 42);
    let big = dir.join("big.bin");
    write(&big, &big_data);
    emu.aws_ok(&[
        "s3",
        "cp",
        s(&big),
        "s3://cli-bucket/big.bin",
        "--only-show-errors",
    ]);
    let head = emu.aws_json(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli-bucket",
        "--key",
        "big.bin",
    ]);
    assert_eq!(head["ContentLength"], big_data.len() as u64);
    let etag = head["ETag"].as_str().expect("etag");
    assert!(
        etag.ends_with("-3\""),
        "multipart ETag has the part count: {etag}"
    );
    let big_back = dir.join("big.back");
    emu.aws_ok(&[
        "s3",
        "cp",
        "s3://cli-bucket/big.bin",
        s(&big_back),
        "--no-progress",
    ]);
    assert!(read(&big_back) == big_data, "20 MB body round trip");

    // Listings.
    let out = emu.aws_ok(&["s3", "ls", "s3://cli-bucket"]);
    assert!(out.contains("PRE docs/"), "{out}");
    let out = emu.aws_ok(&["s3", "ls", "s3://cli-bucket", "--recursive"]);
    assert_eq!(
        ls_entries(&out),
        vec![
            (big_data.len() as u64, "big.bin".to_owned()),
            (15, "docs/small.txt".to_owned()),
        ]
    );

    // rb refuses a non-empty bucket; rm --recursive empties it.
    let (code, err) = emu.aws_err(&["s3", "rb", "s3://cli-bucket"]);
    assert_ne!(code, 0);
    assert!(err.contains("BucketNotEmpty"), "{err}");
    let out = emu.aws_ok(&["s3", "rm", "s3://cli-bucket", "--recursive"]);
    let mut deleted: Vec<&str> = out.lines().collect();
    deleted.sort_unstable();
    assert_eq!(
        deleted,
        [
            "delete: s3://cli-bucket/big.bin",
            "delete: s3://cli-bucket/docs/small.txt"
        ]
    );
    // rb succeeding below shows the bucket is empty.
    let out = emu.aws_ok(&["s3", "rb", "s3://cli-bucket"]);
    assert_eq!(out.trim(), "remove_bucket: cli-bucket");
    let out = emu.aws_ok(&["s3", "ls"]);
    assert!(!out.contains("cli-bucket"), "{out}");
}

#[test]
fn errors_for_missing_buckets_and_keys() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let (code, err) = emu.aws_err(&["s3", "ls", "s3://no-such-bucket"]);
    assert_eq!(code, 255, "{err}");
    assert!(
        err.contains("NoSuchBucket") && err.contains("The specified bucket does not exist"),
        "{err}"
    );

    emu.aws_ok(&["s3", "mb", "s3://err-bucket"]);
    let (code, err) = emu.aws_err(&[
        "s3api",
        "get-object",
        "--bucket",
        "err-bucket",
        "--key",
        "missing",
        "/dev/null",
    ]);
    assert_eq!(code, 255);
    assert!(
        err.contains("(NoSuchKey)") && err.contains("The specified key does not exist."),
        "{err}"
    );
    // HEAD has no body: the CLI can only report the status.
    let (code, err) = emu.aws_err(&[
        "s3api",
        "head-object",
        "--bucket",
        "err-bucket",
        "--key",
        "missing",
    ]);
    assert_eq!(code, 255);
    assert!(err.contains("(404)") && err.contains("Not Found"), "{err}");
    let (code, err) = emu.aws_err(&["s3", "cp", "s3://err-bucket/missing", "-"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");
    let (code, err) = emu.aws_err(&["s3", "mb", "s3://Bad_Name"]);
    assert_ne!(code, 0);
    assert!(err.contains("InvalidBucketName"), "{err}");
    let (_, err) = emu.aws_err(&["s3api", "get-bucket-cors", "--bucket", "err-bucket"]);
    assert!(err.contains("NoSuchCORSConfiguration"), "{err}");
}

#[test]
fn sync_a_tree_up_and_back() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let dir = emu.scratch();
    let up = dir.join("up");
    let files: &[(&str, Vec<u8>)] = &[
        ("a/1.txt", b"one\n".to_vec()),
        ("a/b/2.txt", b"two\n".to_vec()),
        ("a/b/c/deep.bin", pseudo_random(300_000, 1)),
        ("c/3.txt", b"three\n".to_vec()),
        ("space and \u{e9}t\u{e9}.txt", b"unicode\n".to_vec()),
        ("empty.txt", Vec::new()),
    ];
    for (name, data) in files {
        write(&up.join(name), data);
    }
    emu.aws_ok(&["s3", "mb", "s3://sync-bucket"]);
    emu.aws_ok(&[
        "s3",
        "sync",
        s(&up),
        "s3://sync-bucket/tree",
        "--only-show-errors",
    ]);
    let out = emu.aws_ok(&["s3", "ls", "s3://sync-bucket", "--recursive"]);
    let mut want: Vec<(u64, String)> = files
        .iter()
        .map(|(n, d)| (d.len() as u64, format!("tree/{n}")))
        .collect();
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(ls_entries(&out), want);

    // A second sync finds nothing to do.
    let out = emu.aws_ok(&["s3", "sync", s(&up), "s3://sync-bucket/tree"]);
    assert_eq!(out.trim(), "", "nothing re-uploaded");

    let down = dir.join("down");
    emu.aws_ok(&[
        "s3",
        "sync",
        "s3://sync-bucket/tree",
        s(&down),
        "--only-show-errors",
    ]);
    for (name, data) in files {
        assert!(read(&down.join(name)) == *data, "{name} came back");
    }

    // Change one file, delete another: sync --delete mirrors both.
    write(&up.join("a/1.txt"), b"one, changed\n");
    std::fs::remove_file(up.join("c/3.txt")).expect("rm");
    let out = emu.aws_ok(&[
        "s3",
        "sync",
        s(&up),
        "s3://sync-bucket/tree",
        "--delete",
        "--no-progress",
    ]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("delete: s3://sync-bucket/tree/c/3.txt"));
    assert!(
        lines[1].starts_with("upload: ") && lines[1].ends_with("s3://sync-bucket/tree/a/1.txt")
    );
    let out = emu.aws_ok(&["s3", "cp", "s3://sync-bucket/tree/a/1.txt", "-"]);
    assert_eq!(out, "one, changed\n");

    let out = emu.aws_ok(&["s3", "rm", "s3://sync-bucket/tree/", "--recursive"]);
    assert_eq!(out.lines().count(), files.len() - 1, "{out}");
    emu.aws_ok(&["s3", "rb", "s3://sync-bucket"]);
}

#[test]
fn presigned_urls_fetch_the_object() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    emu.aws_ok(&["s3", "mb", "s3://presign-bucket"]);
    let data = pseudo_random(70_000, 9);
    let file = emu.scratch().join("p.bin");
    write(&file, &data);
    emu.aws_ok(&[
        "s3",
        "cp",
        s(&file),
        "s3://presign-bucket/dir/p q.bin",
        "--only-show-errors",
    ]);
    let url = emu.aws_ok(&[
        "s3",
        "presign",
        "s3://presign-bucket/dir/p q.bin",
        "--expires-in",
        "300",
    ]);
    let url = url.trim();
    assert!(url.starts_with(&emu.endpoint), "{url}");
    let (port, path) = split_url(url);
    assert_eq!(port, emu.port);
    let r = emu.http("GET", &path, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == data, "presigned GET returns the object");
    assert_eq!(r.header("content-length"), Some("70000"));
    // The same URL with a range.
    let r = emu.http("GET", &path, &[("Range", "bytes=5-9")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[5..10]);
}

#[test]
fn s3api_versioning_ranges_and_tags() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let b = "api-bucket";
    emu.aws_ok(&["s3api", "create-bucket", "--bucket", b]);
    let v = emu.aws_json(&["s3api", "get-bucket-versioning", "--bucket", b]);
    assert!(v.get("Status").is_none(), "never enabled: {v}");
    emu.aws_ok(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        b,
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    let v = emu.aws_json(&["s3api", "get-bucket-versioning", "--bucket", b]);
    assert_eq!(v["Status"], "Enabled");

    let dir = emu.scratch();
    let f1 = dir.join("v1");
    let f2 = dir.join("v2");
    write(&f1, b"version one");
    write(&f2, b"0123456789abcdefghij");
    let p1 = emu.aws_json(&[
        "s3api",
        "put-object",
        "--bucket",
        b,
        "--key",
        "k",
        "--body",
        s(&f1),
    ]);
    let p2 = emu.aws_json(&[
        "s3api",
        "put-object",
        "--bucket",
        b,
        "--key",
        "k",
        "--body",
        s(&f2),
        "--metadata",
        "color=blue",
        "--content-type",
        "text/x-test",
    ]);
    let (id1, id2) = (
        p1["VersionId"].as_str().expect("v1 id"),
        p2["VersionId"].as_str().expect("v2 id"),
    );
    assert_ne!(id1, id2);
    assert_eq!(p1["ETag"], format!("\"{}\"", md5_hex(b"version one")));
    assert_eq!(
        p2["ETag"],
        format!("\"{}\"", md5_hex(b"0123456789abcdefghij"))
    );

    let versions = emu.aws_json(&["s3api", "list-object-versions", "--bucket", b]);
    let got: Vec<(&str, bool, u64)> = versions["Versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            assert_eq!(v["Key"], "k");
            (
                v["VersionId"].as_str().expect("id"),
                v["IsLatest"].as_bool().expect("latest"),
                v["Size"].as_u64().expect("size"),
            )
        })
        .collect();
    assert_eq!(got, vec![(id2, true, 20), (id1, false, 11)]);

    let head = emu.aws_json(&["s3api", "head-object", "--bucket", b, "--key", "k"]);
    assert_eq!(head["ContentLength"], 20);
    assert_eq!(head["ContentType"], "text/x-test");
    assert_eq!(head["VersionId"], id2);
    assert_eq!(head["Metadata"]["color"], "blue");

    let out_file = dir.join("range.out");
    let got = emu.aws_json(&[
        "s3api",
        "get-object",
        "--bucket",
        b,
        "--key",
        "k",
        "--range",
        "bytes=10-14",
        s(&out_file),
    ]);
    assert_eq!(got["ContentRange"], "bytes 10-14/20");
    assert_eq!(got["ContentLength"], 5);
    assert_eq!(read(&out_file), b"abcde");
    let got = emu.aws_json(&[
        "s3api",
        "get-object",
        "--bucket",
        b,
        "--key",
        "k",
        "--version-id",
        id1,
        s(&out_file),
    ]);
    assert_eq!(got["VersionId"], id1);
    assert_eq!(read(&out_file), b"version one");

    // Tags on the latest version and on an older one.
    let t = emu.aws_json(&[
        "s3api",
        "put-object-tagging",
        "--bucket",
        b,
        "--key",
        "k",
        "--tagging",
        "TagSet=[{Key=env,Value=test},{Key=team,Value=a b}]",
    ]);
    assert_eq!(t["VersionId"], id2);
    let t = emu.aws_json(&["s3api", "get-object-tagging", "--bucket", b, "--key", "k"]);
    assert_eq!(
        t["TagSet"],
        serde_json::json!([{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "a b"}])
    );
    let head = emu.aws_json(&["s3api", "head-object", "--bucket", b, "--key", "k"]);
    assert_eq!(head["TagCount"], 2);

    // A delete adds a marker; the old versions stay readable.
    let d = emu.aws_json(&["s3api", "delete-object", "--bucket", b, "--key", "k"]);
    assert_eq!(d["DeleteMarker"], true);
    let marker = d["VersionId"].as_str().expect("marker id").to_owned();
    let versions = emu.aws_json(&["s3api", "list-object-versions", "--bucket", b]);
    assert_eq!(versions["DeleteMarkers"][0]["VersionId"], marker.as_str());
    assert_eq!(versions["DeleteMarkers"][0]["IsLatest"], true);
    assert_eq!(versions["Versions"].as_array().map(Vec::len), Some(2));
    let (_, err) = emu.aws_err(&[
        "s3api",
        "get-object",
        "--bucket",
        b,
        "--key",
        "k",
        "/dev/null",
    ]);
    assert!(err.contains("NoSuchKey"), "{err}");
    emu.aws_ok(&[
        "s3api",
        "delete-object",
        "--bucket",
        b,
        "--key",
        "k",
        "--version-id",
        &marker,
    ]);
    let got = emu.aws_json(&[
        "s3api",
        "get-object",
        "--bucket",
        b,
        "--key",
        "k",
        s(&out_file),
    ]);
    assert_eq!(got["VersionId"], id2, "removing the marker restores v2");
}

#[test]
fn s3api_bucket_configuration_copy_and_batch_delete() {
    if !have_aws() {
        return;
    }
    let emu = Emulator::start();
    let b = "conf-bucket";
    emu.aws_ok(&["s3api", "create-bucket", "--bucket", b]);

    // Location: us-east-1 is null; a LocationConstraint is echoed.
    let loc = emu.aws_json(&["s3api", "get-bucket-location", "--bucket", b]);
    assert_eq!(loc["LocationConstraint"], Value::Null);
    let made = emu.aws_json(&[
        "s3api",
        "create-bucket",
        "--bucket",
        "eu-bucket",
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
    ]);
    assert_eq!(made["Location"], "/eu-bucket");
    let loc = emu.aws_json(&["s3api", "get-bucket-location", "--bucket", "eu-bucket"]);
    assert_eq!(loc["LocationConstraint"], "eu-west-1");
    let (_, err) = emu.aws_err(&[
        "s3api",
        "create-bucket",
        "--bucket",
        "eu-bucket",
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
    ]);
    assert!(err.contains("BucketAlreadyOwnedByYou"), "{err}");

    // Policy: stored as sent, 404 after delete.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::conf-bucket/*"}]}"#;
    emu.aws_ok(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        b,
        "--policy",
        policy,
    ]);
    let got = emu.aws_json(&["s3api", "get-bucket-policy", "--bucket", b]);
    assert_eq!(got["Policy"], policy);
    emu.aws_ok(&["s3api", "delete-bucket-policy", "--bucket", b]);
    let (code, err) = emu.aws_err(&["s3api", "get-bucket-policy", "--bucket", b]);
    assert_eq!(code, 255);
    assert!(err.contains("NoSuchBucketPolicy"), "{err}");
    let (_, err) = emu.aws_err(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        b,
        "--policy",
        "not json",
    ]);
    assert!(err.contains("MalformedPolicy"), "{err}");

    // CORS round trip.
    let cors = serde_json::json!({"CORSRules": [{
        "AllowedHeaders": ["*"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedOrigins": ["https://example.com"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3000
    }]});
    emu.aws_ok(&[
        "s3api",
        "put-bucket-cors",
        "--bucket",
        b,
        "--cors-configuration",
        &cors.to_string(),
    ]);
    let got = emu.aws_json(&["s3api", "get-bucket-cors", "--bucket", b]);
    assert_eq!(got, cors);

    // Copy with a metadata directive of REPLACE.
    let src = emu.scratch().join("src.txt");
    write(&src, b"copy me");
    emu.aws_ok(&[
        "s3api",
        "put-object",
        "--bucket",
        b,
        "--key",
        "src.txt",
        "--body",
        s(&src),
        "--metadata",
        "old=1",
        "--content-type",
        "text/plain",
    ]);
    let copied = emu.aws_json(&[
        "s3api",
        "copy-object",
        "--bucket",
        b,
        "--key",
        "dst/copy.txt",
        "--copy-source",
        &format!("{b}/src.txt"),
        "--metadata-directive",
        "REPLACE",
        "--metadata",
        "new=2",
        "--content-type",
        "application/x-new",
    ]);
    assert_eq!(
        copied["CopyObjectResult"]["ETag"],
        format!("\"{}\"", md5_hex(b"copy me"))
    );
    assert!(copied["CopyObjectResult"]["LastModified"].is_string());
    let head = emu.aws_json(&[
        "s3api",
        "head-object",
        "--bucket",
        b,
        "--key",
        "dst/copy.txt",
    ]);
    assert_eq!(head["Metadata"], serde_json::json!({"new": "2"}));
    assert_eq!(head["ContentType"], "application/x-new");
    // Without REPLACE the metadata comes along.
    emu.aws_ok(&[
        "s3api",
        "copy-object",
        "--bucket",
        b,
        "--key",
        "dst/copy2.txt",
        "--copy-source",
        &format!("{b}/src.txt"),
    ]);
    let head = emu.aws_json(&[
        "s3api",
        "head-object",
        "--bucket",
        b,
        "--key",
        "dst/copy2.txt",
    ]);
    assert_eq!(head["Metadata"], serde_json::json!({"old": "1"}));
    assert_eq!(head["ContentType"], "text/plain");
    // Copying onto itself without changes is refused.
    let (_, err) = emu.aws_err(&[
        "s3api",
        "copy-object",
        "--bucket",
        b,
        "--key",
        "src.txt",
        "--copy-source",
        &format!("{b}/src.txt"),
    ]);
    assert!(err.contains("InvalidRequest"), "{err}");

    // Batch delete, one key that never existed.
    let deleted = emu.aws_json(&[
        "s3api",
        "delete-objects",
        "--bucket",
        b,
        "--delete",
        r#"{"Objects":[{"Key":"src.txt"},{"Key":"dst/copy.txt"},{"Key":"never"}]}"#,
    ]);
    let mut keys: Vec<&str> = deleted["Deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|d| d["Key"].as_str().expect("key"))
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["dst/copy.txt", "never", "src.txt"]);
    assert!(deleted.get("Errors").is_none(), "{deleted}");
    let left = emu.aws_json(&["s3api", "list-objects-v2", "--bucket", b]);
    // (The CLI paginates and drops KeyCount: count the entries.)
    assert_eq!(left["Contents"].as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left["Contents"][0]["Key"], "dst/copy2.txt");
}
