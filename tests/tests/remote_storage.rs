//! The S3 storage backend of `podstack-remote` against real S3 implementations: the storage
//! contract ([`remote_server::testing::storage_contract`]) on podstack's own emulator and on
//! moto's server, plus key prefixes and error mapping; and, on a moto that enforces IAM, the
//! backend's SigV4 signatures and the mapping of refused credentials.
//!
//! moto's signature check rejects listings whose `prefix` holds a `/`, even boto3's (moto
//! 5.2), so the contract runs on a moto without enforcement and the signed run lists the
//! whole bucket only.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2e::{Emulator, free_port, http, in_ci, xml_text};
use remote_server::storage::{S3Storage, Storage, StorageError};
use remote_server::testing::storage_contract;

const BUCKET: &str = "podstack-remote";

/// An S3 storage on `endpoint` with these keys (and no other AWS environment).
fn s3(spec: &str, endpoint: &str, key: &str, secret: &str) -> S3Storage {
    let env = |name: &str| match name {
        "AWS_ACCESS_KEY_ID" => Some(key.to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some(secret.to_owned()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        _ => None,
    };
    S3Storage::from_url_with(spec, Some(endpoint), &env).expect("open the S3 storage")
}

/// Runs the contract under a key prefix, then checks that the prefix maps keys and that a
/// missing bucket is named.
fn contract_and_prefixes(endpoint: &str, key: &str, secret: &str) {
    let team = s3(&format!("{BUCKET}/team/pods"), endpoint, key, secret);
    storage_contract(&team).unwrap_or_else(|e| panic!("contract: {e}"));
    team.put("probe.json", b"{}").expect("put");
    let root = s3(BUCKET, endpoint, key, secret);
    assert_eq!(
        root.get("team/pods/probe.json").expect("get").as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(
        root.list("team/").expect("list"),
        vec!["team/pods/probe.json"]
    );
    assert_eq!(team.list("").expect("list"), vec!["probe.json"]);
    team.delete("probe.json").expect("delete");
    let missing = s3("no-such-bucket-here/x", endpoint, key, secret);
    let e = missing.get("k").expect_err("no bucket");
    assert!(
        matches!(&e, StorageError::Failed(m) if m.contains("\"no-such-bucket-here\" does not exist")),
        "{e}"
    );
}

#[test]
fn emulator_s3_keeps_the_storage_contract() {
    let emu = Emulator::start();
    let r = emu.http("PUT", &format!("/{BUCKET}"), &[], b"");
    assert_eq!(r.status, 200, "create bucket: {}", r.text());
    contract_and_prefixes(&emu.endpoint, "test", "test");
}

/// Whether moto's server can run; when it cannot, fails in CI and otherwise skips loudly.
fn have_moto() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !found {
        assert!(
            !in_ci(),
            "moto is required in CI (python3 -m pip install 'moto[server]')"
        );
        eprintln!("!!! SKIPPED: moto is not installed (python3 -m pip install 'moto[server]').");
    }
    found
}

/// `python3 -m moto.server` on a free loopback port, killed (by its own PID) on drop.
#[derive(Debug)]
struct Moto {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto; with `Some(n)`, IAM is enforced after `n` unauthenticated requests.
    fn start(free_actions: Option<u32>) -> Self {
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("moto.log")).expect("log");
            let mut cmd = Command::new("python3");
            cmd.env_remove("INITIAL_NO_AUTH_ACTION_COUNT");
            if let Some(n) = free_actions {
                cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
            }
            let child = cmd
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn moto");
            let mut moto = Self { child, port, dir };
            if moto.wait_listening() {
                return moto;
            }
            eprintln!("moto did not start on port {port}:\n{}", moto.log());
        }
        panic!("could not start moto");
    }

    /// Waits (up to 30 s) for the port to accept connections; a request would count as an
    /// action.
    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An IAM query-API call (unsigned; only allowed among the first free actions).
    fn iam(&self, params: &str) -> String {
        let auth = "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, \
                    SignedHeaders=host, Signature=0";
        let body = format!("{params}&Version=2010-05-08");
        let r = http(
            self.port,
            "POST",
            "/",
            &[
                ("Authorization", auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .expect("IAM call");
        assert_eq!(r.status, 200, "{params}: {}", r.text());
        r.text()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- moto log ---\n{}--- end of moto log ---", self.log());
        }
    }
}

impl Moto {
    /// Creates the test bucket (an unsigned request).
    fn create_bucket(&self) {
        let r = http(self.port, "PUT", &format!("/{BUCKET}"), &[], b"").expect("create bucket");
        assert_eq!(r.status, 200, "create bucket: {}", r.text());
    }
}

#[test]
fn moto_s3_keeps_the_storage_contract() {
    if !have_moto() {
        return;
    }
    let moto = Moto::start(None);
    moto.create_bucket();
    contract_and_prefixes(&moto.endpoint(), "test", "test");
}

#[test]
fn moto_accepts_the_signatures_and_refuses_bad_keys() {
    if !have_moto() {
        return;
    }
    // Four unauthenticated actions set up a user allowed s3:*, its key and the bucket; every
    // later request must be signed with that key.
    let moto = Moto::start(Some(4));
    moto.iam("Action=CreateUser&UserName=pod");
    moto.iam(
        "Action=PutUserPolicy&UserName=pod&PolicyName=s3&PolicyDocument=%7B%22Version%22%3A\
         %222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22\
         %3A%22s3%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    );
    let keys = moto.iam("Action=CreateAccessKey&UserName=pod");
    let key = xml_text(&keys, "AccessKeyId").expect("access key id");
    let secret = xml_text(&keys, "SecretAccessKey").expect("secret");
    moto.create_bucket();
    let endpoint = moto.endpoint();

    let s = s3(BUCKET, &endpoint, key, secret);
    s.put("a/b.json", b"0123456789").expect("signed put");
    assert_eq!(
        s.get("a/b.json").expect("signed get").as_deref(),
        Some(&b"0123456789"[..])
    );
    assert_eq!(s.get_range("a/b.json", 2, 3).expect("signed range"), b"234");
    assert_eq!(s.get_range("a/b.json", 2, 0).expect("signed head"), b"");
    assert!(s.create("c.json", b"1").expect("signed create"));
    assert!(!s.create("c.json", b"2").expect("signed create again"));
    assert_eq!(s.list("").expect("signed list"), vec!["a/b.json", "c.json"]);
    s.delete("a/b.json").expect("signed delete");
    assert_eq!(s.get("a/b.json").expect("signed get"), None);

    let wrong_secret = s3(BUCKET, &endpoint, key, "not-the-secret");
    let e = wrong_secret.get("c.json").expect_err("bad signature");
    assert!(
        matches!(&e, StorageError::Denied(m) if m.contains("SignatureDoesNotMatch")),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-secret"), "{e}");
    let unknown = s3(BUCKET, &endpoint, "AKIAUNKNOWNKEY000000", secret);
    let e = unknown.put("k", b"x").expect_err("unknown key");
    assert!(
        matches!(&e, StorageError::Denied(m) if m.contains("InvalidAccessKeyId")),
        "{e}"
    );
    assert!(!e.to_string().contains(secret), "{e}");
}
