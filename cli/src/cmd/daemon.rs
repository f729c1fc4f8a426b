//! The emulator's lifecycle: `start` (foreground, or `-d` in the background with a pid file
//! and a log file in the data directory), `stop`, `status`, `logs`, `wait`.
//!
//! `start -d` runs this same binary again (`start --pid-file …`) in its own process group,
//! with stdout and stderr appended to `<data dir>/podstack.log`, writes its pid to
//! `<data dir>/podstack.pid`, and returns once the emulator answers health (or shows the end
//! of the log when it exits first). `stop` sends SIGTERM to that pid after checking it is a
//! podstack process, and waits: the emulator finishes requests in flight and saves state.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{CliError, Kind, Result};
use crate::http::Endpoint;
use crate::output::{self, Ctx};
use crate::plan::StartPlan;

/// Writes a line to stderr, ignoring failures (a server must not die of a closed terminal).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `start`.
pub fn start(ctx: &mut Ctx<'_>, p: &StartPlan) -> Result<()> {
    if p.detach {
        detach(ctx, p)
    } else {
        foreground(ctx, p)
    }
}

/// Restores persisted state and preseeds pods, reporting what happened; never fails.
fn prepare_state(gateway: &emulator::Gateway, seeds: &[emulator::Seed]) {
    let persist = &gateway.persistence().config;
    let restored = gateway.restore_at_start();
    if persist.enabled {
        let status = gateway.persistence().status();
        for p in &status.problems {
            say!("podstack: persistence: {p}");
        }
        match &status.last_snapshot {
            Some(s) => say!(
                "restored snapshot {} ({})",
                &s[..12.min(s.len())],
                restored.join(", ")
            ),
            None => say!("no saved state to restore"),
        }
    }
    if seeds.is_empty() {
        return;
    }
    if persist.enabled && gateway.persistence().status().last_snapshot.is_some() {
        say!(
            "pods to preseed are skipped: PERSISTENCE=1 and saved state exists (pods seed only the first start)"
        );
        return;
    }
    for line in gateway.preseed(seeds, emulator::default_strategy()) {
        match line {
            Ok(l) => say!("{l}"),
            Err(e) => say!("podstack: preseeding failed: {e}"),
        }
    }
}

/// Runs the emulator in this process until SIGINT or SIGTERM.
fn foreground(ctx: &mut Ctx<'_>, p: &StartPlan) -> Result<()> {
    let home = ctx.settings.data_dir.clone();
    let config =
        emulator::Config::from_env(p.listen, home.join("store")).map_err(CliError::usage)?;
    let mut seeds = match std::env::var("AUTO_LOAD_POD") {
        Ok(v) => emulator::parse_auto_load(&v).map_err(CliError::usage)?,
        Err(_) => Vec::new(),
    };
    seeds.extend(emulator::scan_init_dir(&p.init_pods_dir).map_err(CliError::usage)?);
    let (seeds, pulled) = crate::cmd::share::pull_seeds(ctx, seeds);
    for line in pulled {
        say!("{line}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::general("cannot start the async runtime").cause(&e))?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                CliError::new(Kind::Conflict, format!(
                    "{} is already in use; is podstack (or LocalStack) already running?",
                    config.listen
                )).hint("`podstack status` tells; choose another address with --listen or GATEWAY_LISTEN")
            } else {
                CliError::general(format!("cannot listen on {}", config.listen)).cause(&e)
            }
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::general("cannot read the listening address").cause(&e))?;
        let gateway = emulator::Gateway::new(config.clone()).map_err(|e| {
            CliError::from(e).context(format!(
                "cannot open the pod store at {}",
                config.store_dir.display()
            ))
        })?;
        say!(
            "podstack {} listening on http://{addr} (store: {})",
            env!("CARGO_PKG_VERSION"),
            config.store_dir.display()
        );
        prepare_state(&gateway, &seeds);
        tokio::spawn(gateway.clone().run_scheduled_saves());
        say!("Ready.");
        emulator::run(listener, gateway.clone(), emulator::signal()).await;
        match gateway.save_at_shutdown().await {
            Some(Ok(c)) => say!("state saved (snapshot {})", c.0.short()),
            Some(Err(e)) => say!("podstack: saving state at shutdown failed: {e}"),
            None => {}
        }
        say!("podstack stopped");
        Ok(())
    });
    if let Some(pf) = &p.pid_file
        && read_pid(pf) == Some(std::process::id())
    {
        let _ = std::fs::remove_file(pf);
    }
    result
}

/// `start -d`.
fn detach(ctx: &mut Ctx<'_>, p: &StartPlan) -> Result<()> {
    let s = ctx.settings;
    let pid_file = s.pid_file();
    let log_path = s.log_file();
    if let Some(pid) = read_pid(&pid_file) {
        if is_podstack(pid) {
            return Err(CliError::new(
                Kind::Conflict,
                format!(
                    "podstack is already running (pid {pid}, pid file {})",
                    pid_file.display()
                ),
            )
            .hint("`podstack status` shows it; `podstack stop` stops it"));
        }
        let _ = std::fs::remove_file(&pid_file);
    }
    std::fs::create_dir_all(&s.data_dir).map_err(|e| {
        CliError::general(format!("cannot create {}", s.data_dir.display())).cause(&e)
    })?;
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::general(format!("cannot open {}", log_path.display())).cause(&e))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe()
        .map_err(|e| CliError::general("cannot find the podstack binary").cause(&e))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--data-dir")
        .arg(&s.data_dir)
        .arg("start")
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--init-pods-dir")
        .arg(&p.init_pods_dir);
    if let Some(l) = p.listen {
        cmd.arg("--listen").arg(l.to_string());
    }
    let stderr_log = log
        .try_clone()
        .map_err(|e| CliError::general(format!("cannot open {}", log_path.display())).cause(&e))?;
    use std::os::unix::process::CommandExt;
    cmd.stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(stderr_log)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::general("cannot start the emulator process").cause(&e))?;
    let pid = child.id();
    write_pid(&pid_file, pid)?;
    let client = Client::new(Endpoint {
        tls: false,
        host: p.health_addr.ip().to_string(),
        port: p.health_addr.port(),
        prefix: String::new(),
    });
    let pb = crate::progress::spinner(s.progress, "starting podstack");
    let deadline = Instant::now() + Duration::from_secs_f64(p.timeout);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            pb.finish_and_clear();
            let _ = std::fs::remove_file(&pid_file);
            let tail = log_since(&log_path, log_start);
            let kind = if tail.contains("already in use") {
                Kind::Conflict
            } else {
                Kind::General
            };
            let mut e = CliError::new(kind, format!("the emulator exited during start ({status})"));
            for l in tail
                .lines()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                e.causes.push(l.to_owned());
            }
            return Err(e.hint(format!("the whole log is {}", log_path.display())));
        }
        if client.ping() {
            break;
        }
        if Instant::now() >= deadline {
            pb.finish_and_clear();
            return Err(CliError::new(
                Kind::Timeout,
                format!(
                    "the emulator (pid {pid}) did not answer at http://{} within {} s",
                    p.health_addr, p.timeout
                ),
            )
            .hint(format!(
                "it keeps starting in the background: `podstack logs` ({}), `podstack stop`",
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    pb.finish_and_clear();
    let js = json!({"pid": pid, "endpoint": format!("http://{}", p.health_addr),
                    "log": log_path.display().to_string(), "pid_file": pid_file.display().to_string()});
    ctx.emit(&js, |w, st| {
        writeln!(
            w,
            "podstack {} in the background (pid {pid}) on http://{}; log: {}",
            st.green("running"),
            p.health_addr,
            log_path.display()
        )
    })
}

fn log_since(path: &Path, from: u64) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path)
        && f.seek(SeekFrom::Start(from)).is_ok()
    {
        let _ = f.take(1 << 20).read_to_string(&mut s);
    }
    s
}

/// The pid in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

fn write_pid(path: &Path, pid: u32) -> Result<()> {
    let tmp = path.with_extension(format!("pid.{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{pid}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::general(format!("cannot write {}", path.display())).cause(&e))
}

/// Whether `pid` is alive (not a zombie).
fn alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    if rustix::process::test_kill_process(p).is_err() {
        return false;
    }
    // A zombie (exited, not yet reaped by its parent) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => true,
    }
}

/// Whether `pid` is alive and a `podstack start` (so a recycled pid is never signalled).
fn is_podstack(pid: u32) -> bool {
    if !alive(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => {
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_bin = args.first().is_some_and(|a| {
                Path::new(a)
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("podstack"))
            });
            is_bin && args.iter().any(|a| a == "start")
        }
        // Without /proc we cannot tell; trust the pid file.
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// `stop`.
pub fn stop(ctx: &mut Ctx<'_>, timeout: f64) -> Result<()> {
    let pid_file = ctx.settings.pid_file();
    let Some(pid) = read_pid(&pid_file) else {
        let client = Client::new(ctx.settings.endpoint.clone());
        if client.ping() {
            return Err(CliError::new(
                Kind::NotFound,
                format!(
                    "an emulator answers at {} but there is no pid file at {}",
                    ctx.settings.endpoint,
                    pid_file.display()
                ),
            )
            .hint("it was not started with `podstack start -d` (or with another --data-dir); stop it where it runs (Ctrl-C)"));
        }
        ctx.note("podstack is not running");
        return ctx.emit(&json!({"stopped": false, "running": false}), |_, _| Ok(()));
    };
    if !is_podstack(pid) {
        let _ = std::fs::remove_file(&pid_file);
        ctx.note(format!(
            "podstack is not running (removed the stale pid file {})",
            pid_file.display()
        ));
        return ctx.emit(&json!({"stopped": false, "running": false}), |_, _| Ok(()));
    }
    let p = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| CliError::general(format!("invalid pid {pid}")))?;
    rustix::process::kill_process(p, rustix::process::Signal::TERM).map_err(|e| {
        CliError::general(format!("cannot signal pid {pid}")).cause(&std::io::Error::from(e))
    })?;
    let pb = crate::progress::spinner(
        ctx.settings.progress,
        &format!("stopping podstack (pid {pid})"),
    );
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    while alive(pid) {
        if Instant::now() >= deadline {
            pb.finish_and_clear();
            return Err(CliError::new(
                Kind::Timeout,
                format!("podstack (pid {pid}) did not stop within {timeout} s of SIGTERM"),
            )
            .hint(format!(
                "it may still be saving state (`podstack logs`); `kill -9 {pid}` forces it"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    pb.finish_and_clear();
    if read_pid(&pid_file) == Some(pid) {
        let _ = std::fs::remove_file(&pid_file);
    }
    ctx.note(format!("podstack stopped (pid {pid})"));
    ctx.emit(&json!({"stopped": true, "pid": pid}), |_, _| Ok(()))
}

/// `status`.
pub fn status(ctx: &mut Ctx<'_>) -> Result<()> {
    let client = Client::new(ctx.settings.endpoint.clone());
    let pid = read_pid(&ctx.settings.pid_file()).filter(|p| is_podstack(*p));
    let local_store = ctx.settings.store_dir();
    let ep = ctx.settings.endpoint.to_string();
    let health = match client.health() {
        Ok(h) => h,
        Err(e) => {
            let js = json!({"running": false, "endpoint": ctx.settings.endpoint.to_string(), "pid": pid});
            ctx.emit(&js, |w, st| {
                writeln!(w, "podstack is {} at {ep}", st.red("not running"))?;
                if let Some(pid) = pid {
                    writeln!(w, "  (pid {pid} from the pid file is alive but does not answer; it may be starting)")?;
                }
                Ok(())
            })?;
            return Err(e);
        }
    };
    let h = &health.raw;
    let services: Vec<String> = h["services"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let shared = health
        .store
        .as_ref()
        .is_some_and(|s| crate::cmd::store::same(s, &local_store));
    let loaded = h["podstack"]["loaded_pods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let js = json!({
        "running": true,
        "endpoint": ctx.settings.endpoint.to_string(),
        "version": health.version(),
        "uptime_seconds": h["uptime_seconds"],
        "pid": pid,
        "services": h["services"],
        "store": health.store.as_ref().map(|p| p.display().to_string()),
        "shared_store": shared,
        "loaded_pods": loaded,
        "persistence": h["persistence"],
        "config": ctx.settings.config_path.as_ref().filter(|p| p.is_file()).map(|p| p.display().to_string()),
        "default_remote": ctx.settings.config.default_remote,
    });
    let config_line = ctx
        .settings
        .config_path
        .as_ref()
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string());
    let verbose = ctx.settings.verbosity >= crate::plan::Verbosity::Verbose;
    let uptime = h["uptime_seconds"].as_u64().unwrap_or(0);
    ctx.emit(&js, |w, st| {
        writeln!(
            w,
            "podstack {} is {} at {ep} (up {}{})",
            health.version(),
            st.green("running"),
            duration(uptime),
            pid.map(|p| format!(", pid {p}")).unwrap_or_default()
        )?;
        writeln!(w, "  services:    {}", services.join(", "))?;
        if let Some(s) = &health.store {
            writeln!(
                w,
                "  store:       {}{}",
                s.display(),
                if shared {
                    " (this CLI's)"
                } else {
                    " (not this CLI's: pods travel as archives)"
                }
            )?;
        }
        let p = &h["persistence"];
        let persist = if p["enabled"].as_bool() == Some(true) {
            match p["status"]["last_snapshot"].as_str() {
                Some(s) => format!("on, last snapshot {}", &s[..12.min(s.len())]),
                None => "on, nothing saved yet".to_owned(),
            }
        } else {
            "off".to_owned()
        };
        writeln!(w, "  persistence: {persist}")?;
        if verbose && let Some(c) = &config_line {
            writeln!(w, "  config:      {c}")?;
        }
        if loaded.is_empty() {
            writeln!(w, "  loaded pods: none")
        } else {
            writeln!(w, "  loaded pods:")?;
            for l in &loaded {
                writeln!(w, "    {}", loaded_line(l))?;
            }
            Ok(())
        }
    })
}

fn loaded_line(l: &Value) -> String {
    format!(
        "{} ({}, {})",
        l["pod"].as_str().unwrap_or("?"),
        l["strategy"].as_str().unwrap_or("?"),
        l["at"].as_i64().map(output::time).unwrap_or_default()
    )
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `logs [-f] [-n N]`.
pub fn logs(ctx: &mut Ctx<'_>, follow: bool, tail: Option<usize>) -> Result<()> {
    let path: PathBuf = ctx.settings.log_file();
    let mut f = std::fs::File::open(&path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound { Kind::NotFound } else { Kind::General };
        CliError::new(kind, format!("no log at {}", path.display()))
            .cause(&e)
            .hint("the log is written by `podstack start -d`; a foreground emulator logs to its terminal")
    })?;
    let mut pos = 0u64;
    if let Some(n) = tail {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        // Read back far enough for n lines (at most 64 MiB).
        let mut back = 64 << 10;
        loop {
            let start = len.saturating_sub(back);
            f.seek(SeekFrom::Start(start))?;
            let mut buf = Vec::new();
            (&mut f).take(back).read_to_end(&mut buf)?;
            let lines = buf.iter().filter(|b| **b == b'\n').count();
            if lines > n || start == 0 || back >= 64 << 20 {
                let text = String::from_utf8_lossy(&buf);
                let all: Vec<&str> = text.lines().collect();
                let skip = all.len().saturating_sub(n);
                for l in &all[skip..] {
                    writeln!(ctx.out, "{l}")?;
                }
                pos = len;
                break;
            }
            back *= 4;
        }
    } else {
        pos += std::io::copy(&mut f, &mut *ctx.out)?;
    }
    ctx.out.flush()?;
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(_) => continue,
        };
        if len < pos {
            // Truncated or replaced: start over.
            let Ok(again) = std::fs::File::open(&path) else {
                continue;
            };
            f = again;
            pos = 0;
        }
        if len > pos {
            f.seek(SeekFrom::Start(pos))?;
            pos += std::io::copy(&mut (&mut f).take(len - pos), &mut *ctx.out)?;
            ctx.out.flush()?;
        }
    }
}

/// `wait [--timeout SECS]`.
pub fn wait(ctx: &mut Ctx<'_>, timeout: f64) -> Result<()> {
    let client = Client::new(ctx.settings.endpoint.clone());
    let pb = crate::progress::spinner(
        ctx.settings.progress,
        &format!("waiting for {}", ctx.settings.endpoint),
    );
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let started = Instant::now();
    loop {
        if client.ping() {
            pb.finish_and_clear();
            ctx.note(format!("podstack is up at {}", ctx.settings.endpoint));
            let js = json!({"running": true, "endpoint": ctx.settings.endpoint.to_string(),
                            "waited_seconds": started.elapsed().as_secs_f64()});
            return ctx.emit(&js, |_, _| Ok(()));
        }
        if Instant::now() >= deadline {
            pb.finish_and_clear();
            return Err(CliError::new(
                Kind::Timeout,
                format!(
                    "podstack did not answer at {} within {timeout} s",
                    ctx.settings.endpoint
                ),
            )
            .hint("is it started (`podstack start -d`)? `podstack logs` shows what it said"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_and_process_checks() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("podstack.pid");
        assert_eq!(read_pid(&p), None);
        write_pid(&p, 4242).expect("write");
        assert_eq!(read_pid(&p), Some(4242));
        std::fs::write(&p, "garbage").expect("write");
        assert_eq!(read_pid(&p), None);
        assert!(alive(std::process::id()));
        // The test binary is not `podstack start`.
        assert!(!is_podstack(std::process::id()));
        assert!(!alive(u32::MAX));
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3_700), "1h 1m");
    }
}
