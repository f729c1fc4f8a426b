//! A `podstack-remote serve` on a free loopback port, with tokens, for push/pull tests.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, http, remote_binary};

/// A running `podstack-remote`, killed (by its own PID) when dropped.
#[derive(Debug)]
pub struct RemoteServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The `--storage` argument.
    pub storage: String,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl RemoteServer {
    /// Serves a storage directory.
    pub fn start(storage: &Path, log_dir: &Path) -> Self {
        Self::start_with(&storage.display().to_string(), &[], &[], log_dir)
    }

    /// Serves `storage` (a directory or `s3://…`) with extra `serve` arguments and
    /// environment variables (AWS credentials for an S3 backend).
    pub fn start_with(storage: &str, extra: &[&str], env: &[(&str, &str)], log_dir: &Path) -> Self {
        let mut s = Self {
            child: None,
            port: 0,
            url: String::new(),
            storage: storage.to_owned(),
            extra: extra.iter().map(|e| (*e).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            log: log_dir.join("podstack-remote.log"),
        };
        s.restart();
        s
    }

    /// (Re)starts the server on a new free port after a kill.
    pub fn restart(&mut self) {
        let port = if self.port == 0 {
            free_port()
        } else {
            self.port
        };
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(remote_binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--storage", &self.storage])
            .args(&self.extra)
            .env_remove("PODSTACK_REMOTE_STORAGE")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn podstack-remote");
        self.child = Some(child);
        self.port = port;
        self.url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(r) = http(port, "GET", "/healthz", &[], b"")
                && r.status == 200
            {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(Child::try_wait) {
                panic!("podstack-remote exited with {st}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!("podstack-remote did not answer /healthz:\n{}", self.log());
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `podstack-remote token create NAME --role ROLE`: the token.
    pub fn token(&self, name: &str, role: &str) -> String {
        let out = self
            .admin(&["token", "create", name, "--role", role])
            .output()
            .expect("token create");
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("a token line")
            .trim()
            .to_owned()
    }

    /// A `podstack-remote` command on this server's storage (for `token …`).
    pub fn admin(&self, args: &[&str]) -> Command {
        let mut c = Command::new(remote_binary());
        c.args(args).args(["--storage", &self.storage]);
        let mut rest = self.extra.iter();
        while let Some(a) = rest.next() {
            if a == "--s3-endpoint" {
                c.arg(a).args(rest.next());
            }
        }
        c.env_remove("PODSTACK_REMOTE_STORAGE")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RemoteServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- podstack-remote log ---\n{}", self.log());
        }
    }
}
