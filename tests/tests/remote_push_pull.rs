//! Team sharing end to end: two users (two emulators, two `PODSTACK_HOME`s) share pods
//! through a real `podstack-remote` with the real `podstack` CLI: byte-identical state after a
//! pull, a 1%-change push sending a small fraction, concurrent pushes (one wins, nothing is
//! lost), tokens refused by name, a push resumed after the server was killed, a corrupt upload
//! refused, and the S3 backend (on podstack's own S3) and an `s3://` remote used directly.

use std::path::Path;
use std::process::Command;

use e2e::remote::RemoteServer;
use e2e::{CliRun, Emulator, http, podstack_command, pseudo_random};
use serde_json::Value;

/// `podstack ARGS` for the user of `emu`, with a token (or none) in `PODSTACK_TOKEN`.
fn user(emu: &Emulator, token: Option<&str>, args: &[&str]) -> CliRun {
    user_cmd(emu, token, &[], args)
}

fn user_cmd(emu: &Emulator, token: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> CliRun {
    let mut c: Command = podstack_command(&emu.data_dir(), &emu.endpoint);
    c.env_remove("PODSTACK_TOKEN")
        .env("PODSTACK_KEYRING", "file");
    if let Some(t) = token {
        c.env("PODSTACK_TOKEN", t);
    }
    c.envs(env.iter().copied());
    let out = c.args(args).output().expect("run podstack");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(r: CliRun, what: &str) -> CliRun {
    assert_eq!(r.code, 0, "{what} failed:\n{}\n{}", r.stdout, r.stderr);
    r
}

fn json_ok(emu: &Emulator, token: Option<&str>, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    ok(user(emu, token, &all), &args.join(" ")).json()
}

/// A bucket of 100 objects (one of 3 MiB) plus a queue: the pod every test shares.
fn seed(emu: &Emulator) {
    emu.put_ok("/shared", b"");
    for i in 0..99u64 {
        emu.put_ok(&format!("/shared/obj-{i}"), &pseudo_random(20_000, i));
    }
    emu.put_ok("/shared/big", &pseudo_random(3 << 20, 1000));
    emu.sqs_ok("CreateQueue", serde_json::json!({"QueueName": "jobs"}));
}

fn add_remote(emu: &Emulator, url: &str) {
    ok(
        user(emu, None, &["remote", "add", "team", url]),
        "remote add",
    );
}

/// Two users of the remote at `url`: A with the seeded pod p1 committed, B with nothing yet.
fn two_users(url: &str) -> (Emulator, Emulator) {
    let a = Emulator::start();
    let b = Emulator::start();
    seed(&a);
    ok(
        user(&a, None, &["pod", "commit", "p1", "-m", "seed"]),
        "commit",
    );
    add_remote(&a, url);
    add_remote(&b, url);
    (a, b)
}

/// A pushes p1 with token `ta`; B pulls it with `tb` and injects it.
fn share(a: &Emulator, ta: &str, b: &Emulator, tb: &str) {
    ok(
        user(a, Some(ta), &["pod", "push", "p1", "--remote", "team"]),
        "push",
    );
    let pull = ["pod", "pull", "p1", "--remote", "team", "--inject"];
    ok(user(b, Some(tb), &pull), "pull");
}

fn server(dir: &Path) -> RemoteServer {
    RemoteServer::start(&dir.join("remote-storage"), dir)
}

#[test]
fn two_users_share_a_pod_and_a_small_change_sends_little() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let alice = srv.token("alice", "write");
    let bob = srv.token("bob", "write");
    let (a, b) = two_users(&srv.url);

    let first = json_ok(&a, Some(&alice), &["pod", "push", "p1", "--remote", "team"]);
    assert_eq!(first["versions"], serde_json::json!([1]), "{first}");
    let first_bytes = first["bytes_sent"].as_u64().expect("bytes");
    assert!(first_bytes > 3 << 20, "{first}");

    // Bob pulls and injects: the same state, byte for byte.
    let pulled = json_ok(
        &b,
        Some(&bob),
        &["pod", "pull", "p1", "--remote", "team", "--inject"],
    );
    assert_eq!(pulled["version"], 1, "{pulled}");
    assert_eq!(b.get_ok("/shared/big"), pseudo_random(3 << 20, 1000));
    assert_eq!(b.get_ok("/shared/obj-42"), pseudo_random(20_000, 42));
    ok(user(&b, None, &["pod", "commit", "check"]), "commit check");
    let d = json_ok(&b, None, &["pod", "diff", "p1:1", "check"]);
    assert_eq!(d["changes"], serde_json::json!([]), "{d}");

    // Bob changes one object of 100 and pushes version 2: a small fraction travels.
    b.put_ok("/shared/obj-7", &pseudo_random(20_000, 7777));
    ok(
        user(&b, None, &["pod", "commit", "p1", "-m", "fix"]),
        "commit 2",
    );
    let second = json_ok(&b, Some(&bob), &["pod", "push", "p1", "--remote", "team"]);
    assert_eq!(second["versions"], serde_json::json!([2]), "{second}");
    let second_bytes = second["bytes_sent"].as_u64().expect("bytes");
    assert!(
        second_bytes * 20 < first_bytes,
        "a 1% change sent {second_bytes} bytes after {first_bytes}"
    );

    // Alice pulls version 2; listing and versions show both, with who pushed them.
    let again = json_ok(&a, Some(&alice), &["pod", "pull", "p1", "--remote", "team"]);
    assert_eq!(again["version"], 2);
    assert!(again["bytes_received"].as_u64().expect("bytes") * 20 < first_bytes);
    let versions = json_ok(
        &a,
        Some(&alice),
        &["pod", "versions", "p1", "--remote", "team"],
    );
    let v = versions.as_array().expect("array");
    assert_eq!(v.len(), 2, "{versions}");
    assert_eq!(v[1]["pushed_by"], "bob");
    let pods = json_ok(&a, Some(&alice), &["pod", "list", "--remote", "team"]);
    assert_eq!(pods[0]["name"], "p1", "{pods}");
    let local = json_ok(&a, None, &["pod", "versions", "p1"]);
    assert_eq!(local.as_array().map(Vec::len), Some(2), "{local}");
}

#[test]
fn concurrent_pushes_one_wins_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let t = srv.token("team", "write");
    let (a, b) = two_users(&srv.url);
    share(&a, &t, &b, &t);
    a.put_ok("/shared/a-only", b"from a");
    b.put_ok("/shared/b-only", b"from b");
    ok(user(&a, None, &["pod", "commit", "p1"]), "commit a");
    ok(user(&b, None, &["pod", "commit", "p1"]), "commit b");
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| user(&a, Some(&t), &["pod", "push", "p1", "--remote", "team"]));
        let hb = s.spawn(|| user(&b, Some(&t), &["pod", "push", "p1", "--remote", "team"]));
        (ha.join().expect("push a"), hb.join().expect("push b"))
    });
    let (winner, loser) = match (ra.code, rb.code) {
        (0, 4) => (&a, &rb),
        (4, 0) => (&b, &ra),
        _ => panic!(
            "expected one push to win and one to conflict:\nA {} {}\nB {} {}",
            ra.code, ra.stderr, rb.code, rb.stderr
        ),
    };
    assert!(loser.stderr.contains("pull"), "{}", loser.stderr);
    // The remote holds the winner's version 2; the loser still has its own.
    let c = Emulator::start();
    add_remote(&c, &srv.url);
    ok(
        user(
            &c,
            Some(&t),
            &["pod", "pull", "p1", "--remote", "team", "--inject"],
        ),
        "pull c",
    );
    let winner_file = if std::ptr::eq(winner, &a) {
        "/shared/a-only"
    } else {
        "/shared/b-only"
    };
    assert!(c.get_ok(winner_file).starts_with(b"from"));
    for emu in [&a, &b] {
        let v = json_ok(emu, None, &["pod", "versions", "p1"]);
        assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    }
}

#[test]
fn tokens_are_checked_and_roles_enforced() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let reader = srv.token("ci", "read");
    let writer = srv.token("dev", "write");
    let a = Emulator::start();
    a.put_ok("/bkt", b"");
    ok(user(&a, None, &["pod", "commit", "p1"]), "commit");
    add_remote(&a, &srv.url);

    let none = user(&a, None, &["pod", "push", "p1", "--remote", "team"]);
    assert_eq!(none.code, 8, "{}", none.stderr);
    assert!(none.stderr.contains("podstack login"), "{}", none.stderr);
    let wrong = user(
        &a,
        Some("pst_0000"),
        &["pod", "push", "p1", "--remote", "team"],
    );
    assert_eq!(wrong.code, 8, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("not known"), "{}", wrong.stderr);
    let ro = user(
        &a,
        Some(&reader),
        &["pod", "push", "p1", "--remote", "team"],
    );
    assert_eq!(ro.code, 8, "{}", ro.stderr);
    assert!(ro.stderr.contains("role read"), "{}", ro.stderr);
    ok(
        user(
            &a,
            Some(&writer),
            &["pod", "push", "p1", "--remote", "team"],
        ),
        "push",
    );
    // Read may list; only admin may delete.
    let pods = json_ok(&a, Some(&reader), &["pod", "list", "--remote", "team"]);
    assert_eq!(pods.as_array().map(Vec::len), Some(1));
    let del = user(
        &a,
        Some(&writer),
        &["pod", "delete", "p1", "--remote", "team", "-y"],
    );
    assert_eq!(del.code, 8, "{}", del.stderr);
    let admin = srv.token("boss", "admin");
    ok(
        user(
            &a,
            Some(&admin),
            &["pod", "delete", "p1", "--remote", "team", "-y"],
        ),
        "delete",
    );
    let gone = user(
        &a,
        Some(&reader),
        &["pod", "versions", "p1", "--remote", "team"],
    );
    assert_eq!(gone.code, 3, "{}", gone.stderr);
    // Revoked tokens stop working.
    let revoked = srv
        .admin(&["token", "revoke", "dev"])
        .output()
        .expect("revoke");
    assert!(revoked.status.success());
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let after = user(
        &a,
        Some(&writer),
        &["pod", "push", "p1", "--remote", "team"],
    );
    assert_eq!(after.code, 8, "{}", after.stderr);
}

#[test]
fn a_push_interrupted_by_a_server_crash_resumes() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut srv = server(dir.path());
    let t = srv.token("dev", "write");
    let a = Emulator::start();
    a.put_ok("/big", b"");
    for i in 0..40u64 {
        a.put_ok(&format!("/big/o{i}"), &pseudo_random(1 << 20, i));
    }
    ok(user(&a, None, &["pod", "commit", "p1"]), "commit");
    add_remote(&a, &srv.url);
    let slow = [
        ("PODSTACK_TRANSFER_BATCH_BYTES", "1048576"),
        ("PODSTACK_TRANSFER_PARALLEL", "1"),
    ];
    let packs = dir.path().join("remote-storage").join("packs");
    let landed = || {
        std::fs::read_dir(&packs)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".idx"))
                })
                .count()
            })
            .unwrap_or(0)
    };
    let first = std::thread::scope(|s| {
        let h = s.spawn(|| {
            user_cmd(
                &a,
                Some(&t),
                &slow,
                &["pod", "push", "p1", "--remote", "team"],
            )
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while landed() < 5 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        srv.kill();
        h.join().expect("push")
    });
    assert_eq!(
        first.code, 5,
        "an unreachable remote: {}\n{}",
        first.stdout, first.stderr
    );
    let before = landed();
    assert!(before >= 5, "packs landed before the crash: {before}");
    srv.restart();
    let args = ["pod", "push", "p1", "--remote", "team", "--format", "json"];
    let done = ok(user_cmd(&a, Some(&t), &slow, &args), "push again").json();
    let sent = done["objects_sent"].as_u64().expect("sent");
    let total = done["objects_considered"].as_u64().expect("total");
    assert!(sent < total, "the second push resent everything: {done}");
    assert_eq!(done["versions"], serde_json::json!([1]));
    let b = Emulator::start();
    add_remote(&b, &srv.url);
    ok(
        user(
            &b,
            Some(&t),
            &["pod", "pull", "p1", "--remote", "team", "--inject"],
        ),
        "pull",
    );
    assert_eq!(b.get_ok("/big/o39"), pseudo_random(1 << 20, 39));
}

#[test]
fn a_corrupt_upload_is_refused_and_nothing_stored() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let t = srv.token("dev", "write");
    let auth = format!("Bearer {t}");
    let o = podstore::MemObjects::new();
    let id = podstore::Objects::put(&o, podstore::ObjectKind::Blob, b"hello").expect("put");
    let mut w = podstore::transfer::StreamWriter::new(Vec::new()).expect("w");
    // The bytes do not match the id they claim.
    w.object(podstore::ObjectKind::Blob, &id, b"HELLO")
        .expect("frame");
    let (_, bad) = w.finish().expect("finish");
    for body in [bad.as_slice(), b"not a stream at all".as_slice()] {
        let r = http(
            srv.port,
            "POST",
            "/v1/packs",
            &[("authorization", auth.as_str())],
            body,
        )
        .expect("request");
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(r.text().contains("\"invalid\""), "{}", r.text());
    }
    let packs = dir.path().join("remote-storage").join("packs");
    let stored = std::fs::read_dir(&packs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        stored,
        0,
        "a refused pack left files in {}",
        packs.display()
    );
    let no_token = http(srv.port, "POST", "/v1/packs", &[], b"x").expect("request");
    assert_eq!(no_token.status, 401);
}

/// Opens a connection and sends a POST head declaring a body of `len` bytes, then `body`
/// (which may be shorter: the rest is never sent).
fn post_declaring(port: u16, path: &str, auth: &str, len: u64, body: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .expect("send head");
    s.write_all(body).expect("send body");
    s
}

/// Sends only the head of a request declaring a body of `len` bytes; returns the status.
fn declared_body_status(port: u16, path: &str, auth: &str, len: u64) -> u16 {
    use std::io::Read;
    let mut s = post_declaring(port, path, auth, len, b"");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("answer");
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("status")
}

/// Every request body has a limit, checked before the body is read: an upload over 512 MiB
/// and a JSON body over 32 MiB are refused with 413, and the server goes on serving.
#[test]
fn bodies_over_their_limits_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let auth = format!("Bearer {}", srv.token("dev", "write"));
    for (path, len) in [
        ("/v1/packs", (512u64 << 20) + 1),
        ("/v1/objects/missing", (32 << 20) + 1),
        ("/v1/pods/p1/versions", (32 << 20) + 1),
    ] {
        assert_eq!(
            declared_body_status(srv.port, path, &auth, len),
            413,
            "{path}"
        );
    }
    let r = http(
        srv.port,
        "POST",
        "/v1/objects/missing",
        &[("authorization", auth.as_str())],
        br#"{"ids": []}"#,
    )
    .expect("request");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn the_s3_backend_and_a_direct_s3_remote_share_pods() {
    let dir = tempfile::tempdir().expect("tmp");
    // podstack's own S3 holds the bucket.
    let s3 = Emulator::start();
    s3.put_ok("/team-pods", b"");
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let srv = RemoteServer::start_with(
        "s3://team-pods/server",
        &["--s3-endpoint", &s3.endpoint],
        &env,
        dir.path(),
    );
    let t = srv.token("dev", "write");
    let (a, b) = two_users(&srv.url);
    share(&a, &t, &b, &t);
    assert_eq!(b.get_ok("/shared/big"), pseudo_random(3 << 20, 1000));

    // The same bucket used directly, without a server.
    let direct: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("AWS_ENDPOINT_URL", s3.endpoint.as_str())])
        .collect();
    ok(
        user_cmd(
            &a,
            None,
            &direct,
            &["remote", "add", "bucket", "s3://team-pods/direct"],
        ),
        "remote add s3",
    );
    ok(
        user_cmd(
            &a,
            None,
            &direct,
            &["pod", "push", "p1", "--remote", "bucket"],
        ),
        "direct push",
    );
    let c = Emulator::start();
    ok(
        user_cmd(
            &c,
            None,
            &direct,
            &["remote", "add", "bucket", "s3://team-pods/direct"],
        ),
        "remote add s3",
    );
    ok(
        user_cmd(
            &c,
            None,
            &direct,
            &["pod", "pull", "p1", "--remote", "bucket", "--inject"],
        ),
        "direct pull",
    );
    assert_eq!(c.get_ok("/shared/obj-3"), pseudo_random(20_000, 3));

    // Both CLIs keep copies of the bucket's pack indexes: the pusher of those it wrote, the
    // puller of those it read.
    let listing =
        String::from_utf8_lossy(&s3.get_ok("/team-pods?list-type=2&prefix=direct/packs/"))
            .into_owned();
    let mut in_bucket: Vec<String> = listing
        .split("<Key>direct/packs/")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_owned()))
        .filter(|k| k.ends_with(".idx"))
        .collect();
    in_bucket.sort();
    assert!(!in_bucket.is_empty(), "{listing}");
    for user in [&a, &c] {
        let mut cached: Vec<String> = std::fs::read_dir(user.data_dir().join("cache/pack-indexes"))
            .expect("the index cache exists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        cached.sort();
        assert_eq!(cached, in_bucket);
    }
    // A later command reads them from there, and still works.
    let listed = user_cmd(
        &c,
        None,
        &direct,
        &["pod", "versions", "p1", "--remote", "bucket"],
    );
    assert!(ok(listed, "versions").stdout.contains('1'));
}

#[test]
fn auto_load_pod_pulls_from_a_remote_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let t = srv.token("ci", "read");
    let w = srv.token("dev", "write");
    let (a, _) = two_users(&srv.url);
    ok(
        user(&a, Some(&w), &["pod", "push", "p1", "--remote", "team"]),
        "push",
    );
    // A CI job: a fresh home whose only configuration is the remote, a read token in the
    // environment, and AUTO_LOAD_POD naming the remote's pod.
    let home = dir.path().join("ci-home");
    std::fs::create_dir_all(&home).expect("home");
    let added = e2e::podstack_run(
        &home,
        "http://127.0.0.1:9",
        &["remote", "add", "team", &srv.url],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    let cfg = home.join("no-config.yaml").display().to_string();
    let c = Emulator::start_with_env(&[
        ("AUTO_LOAD_POD", "team/p1"),
        ("PODSTACK_CONFIG", &cfg),
        ("PODSTACK_TOKEN", &t),
        ("PODSTACK_KEYRING", "file"),
    ]);
    assert_eq!(c.get_ok("/shared/obj-5"), pseudo_random(20_000, 5));
    assert!(c.log().contains("pulled p1:1 from team"), "{}", c.log());
    // An unreachable remote is reported and the emulator starts anyway.
    let d = Emulator::start_with_env(&[("AUTO_LOAD_POD", "nowhere/p1"), ("PODSTACK_CONFIG", &cfg)]);
    assert!(
        d.log().contains("cannot pull p1 from remote nowhere"),
        "{}",
        d.log()
    );
}

/// A TLS proxy (socat) with a self-signed certificate (openssl) in front of the server: the
/// CLI pushes and pulls over https when it trusts the certificate (`SSL_CERT_FILE`), and says
/// why when it does not.
#[test]
fn https_remotes_work_through_a_tls_proxy() {
    let have = |c: &str, arg: &str| {
        Command::new(c)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let tools = have("socat", "-V") && have("openssl", "version");
    if !e2e::tool_available("socat and openssl", tools) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let srv = server(dir.path());
    let t = srv.token("dev", "write");
    // A test CA and a certificate for localhost signed by it.
    let d = dir.path();
    let (ca, cert, key) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
    std::fs::write(
        d.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=podstack-test-ca -keyout ca.key -out ca.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out leaf.csr",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem",
    ] {
        let made = Command::new("openssl")
            .args(args.split(' '))
            .current_dir(d)
            .output()
            .expect("openssl");
        assert!(
            made.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let port = e2e::free_port();
    let mut proxy = Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            cert.display(),
            key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{}", srv.port))
        .spawn()
        .expect("socat");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "socat did not listen");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let url = format!("https://localhost:{port}");
    let (a, b) = two_users(&url);
    let trust = [("SSL_CERT_FILE", ca.to_str().expect("utf-8 path"))];
    let pushed = user_cmd(
        &a,
        Some(&t),
        &trust,
        &["pod", "push", "p1", "--remote", "team"],
    );
    let pulled = user_cmd(
        &b,
        Some(&t),
        &trust,
        &["pod", "pull", "p1", "--remote", "team", "--inject"],
    );
    let untrusted = user(&b, Some(&t), &["pod", "list", "--remote", "team"]);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    assert_eq!(b.get_ok("/shared/big"), pseudo_random(3 << 20, 1000));
    assert_eq!(untrusted.code, 5, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
}

/// Uploads and downloads reserve memory out of `--transfer-buffer-mib` before they take it (an
/// upload its declared length, before its body is read; a download the most its stream can
/// take). While one upload holds all but 32 KiB of a 1 MiB budget, an upload of 40 KiB and a
/// download of a 64 KiB object wait unanswered, other calls are still served, and once the
/// holder's sender goes away both are answered.
#[test]
fn transfers_wait_for_the_memory_budget_and_a_dropped_upload_gives_it_back() {
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tmp");
    let storage = dir.path().join("remote-storage").display().to_string();
    let srv = RemoteServer::start_with(&storage, &["--transfer-buffer-mib", "1"], &[], dir.path());
    let auth = format!("Bearer {}", srv.token("dev", "write"));
    let blob = pseudo_random(64 << 10, 7);
    let (id, pack) = one_blob_pack(&blob);
    let headers = [("authorization", auth.as_str())];
    let r = http(srv.port, "POST", "/v1/packs", &headers, &pack).expect("upload");
    assert_eq!(r.status, 200, "{}", r.text());
    let send = |path: &str, len: usize, body: &[u8]| {
        post_declaring(srv.port, path, &auth, len as u64, body)
    };
    let unanswered = |s: &mut TcpStream| {
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .expect("timeout");
        matches!(
            s.read(&mut [0u8; 1]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        )
    };
    let garbage = vec![b'x'; 40 << 10];
    let ask = format!(r#"{{"ids": ["{}"]}}"#, id.to_hex());
    // The holder declares all but 32 KiB of the budget and never sends its body. Which request the server
    // takes up first is not ours to order, so a round where another got in first is tried
    // again.
    let mut blocked = None;
    for _ in 0..5 {
        let holder = send("/v1/packs", (1 << 20) - (32 << 10), b"");
        std::thread::sleep(Duration::from_millis(200));
        // The download first: waiters are served in order, so a download behind a waiting
        // upload would wait whatever it reserved.
        let mut download = send("/v1/objects/get", ask.len(), ask.as_bytes());
        std::thread::sleep(Duration::from_millis(200));
        let mut upload = send("/v1/packs", garbage.len(), &garbage);
        if unanswered(&mut upload) && unanswered(&mut download) {
            blocked = Some((holder, upload, download));
            break;
        }
    }
    let (holder, upload, download) =
        blocked.expect("a transfer was answered while an upload held all but 32 KiB");
    let r = http(
        srv.port,
        "POST",
        "/v1/objects/missing",
        &headers,
        br#"{"ids": []}"#,
    )
    .expect("request");
    assert_eq!(
        r.status,
        200,
        "other calls wait for no budget: {}",
        r.text()
    );
    drop(holder);
    let answer = |mut s: TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).expect("answer");
        bytes
    };
    let refused = String::from_utf8_lossy(&answer(upload)).into_owned();
    assert!(
        refused.starts_with("HTTP/1.1 422"),
        "once the holder went away the waiting upload was read and refused as garbage: {refused}"
    );
    let sent = answer(download);
    assert!(
        sent.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    assert!(
        sent.windows(blob.len()).any(|w| w == blob.as_slice()),
        "the download holds the object"
    );
}

/// A stream of one pack holding the blob `bytes`; and the blob's id.
fn one_blob_pack(bytes: &[u8]) -> (podstore::ObjectId, Vec<u8>) {
    let o = podstore::MemObjects::new();
    let id = podstore::Objects::put(&o, podstore::ObjectKind::Blob, bytes).expect("put");
    let mut w = podstore::transfer::StreamWriter::new(Vec::new()).expect("w");
    w.object(podstore::ObjectKind::Blob, &id, bytes)
        .expect("frame");
    let (_, pack) = w.finish().expect("finish");
    (id, pack)
}

/// `serve --index-cache DIR` keeps a copy of each pack index it reads or writes and starts
/// from those copies: a server restarted over a storage whose index was damaged still finds
/// the pack's objects, from the checked copy.
#[test]
fn serve_keeps_pack_indexes_in_its_index_cache() {
    let dir = tempfile::tempdir().expect("tmp");
    let storage = dir.path().join("remote-storage");
    let cache = dir.path().join("index-cache");
    let cache_arg = cache.display().to_string();
    let mut srv = RemoteServer::start_with(
        &storage.display().to_string(),
        &["--index-cache", &cache_arg],
        &[],
        dir.path(),
    );
    let auth = format!("Bearer {}", srv.token("dev", "write"));
    let (id, pack) = one_blob_pack(b"hello");
    let headers = [("authorization", auth.as_str())];
    let r = http(srv.port, "POST", "/v1/packs", &headers, &pack).expect("upload");
    assert_eq!(r.status, 200, "{}", r.text());
    let names = |d: &Path, ext: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(ext))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let stored = names(&storage.join("packs"), ".idx");
    assert_eq!(stored.len(), 1);
    assert_eq!(names(&cache, ".idx"), stored, "the written index is cached");
    let idx = storage.join("packs").join(&stored[0]);
    assert_eq!(
        std::fs::read(&idx).expect("stored index"),
        std::fs::read(cache.join(&stored[0])).expect("cached index")
    );
    srv.kill();
    std::fs::write(&idx, b"damaged").expect("damage the stored index");
    srv.restart();
    let ask = format!(r#"{{"ids": ["{}"]}}"#, id.to_hex());
    let r = http(
        srv.port,
        "POST",
        "/v1/objects/missing",
        &headers,
        ask.as_bytes(),
    )
    .expect("missing");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["ids"], serde_json::json!([]), "the object is found: {v}");
}
