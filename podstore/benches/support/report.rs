//! What every benchmark's report needs: the machine's load, and writing its own section of
//! `docs/performance.md` while keeping the others. Included by path (`#[path]`) from the
//! benchmarks of podstore, the emulator and the CLI.

use std::fs;
use std::path::Path;

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `doc` with the section under the line `heading` replaced by `section` (which starts with
/// that heading), or with `section` appended when there is none; other sections are kept.
pub fn replace_section(doc: &str, heading: &str, section: &str) -> String {
    let body = section.trim_end();
    let start = doc.match_indices(heading).map(|(i, _)| i).find(|&i| {
        let rest = &doc[i + heading.len()..];
        (i == 0 || doc[..i].ends_with('\n')) && (rest.is_empty() || rest.starts_with('\n'))
    });
    match start {
        Some(i) => {
            let after = &doc[i + heading.len()..];
            match after.find("\n## ") {
                Some(j) => format!("{}{body}\n\n{}", &doc[..i], &after[j + 1..]),
                None => format!("{}{body}\n", &doc[..i]),
            }
        }
        None => format!("{}\n\n{body}\n", doc.trim_end()),
    }
}

/// Writes `section` (under `heading`) into the markdown file at `path`, creating the file
/// when it is missing.
pub fn write_section(path: &Path, heading: &str, section: &str) -> std::io::Result<()> {
    let old = match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Performance\n".to_owned(),
        Err(e) => return Err(e),
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, replace_section(&old, heading, section))
}

/// The machine a benchmark ran on.
#[derive(Clone, Debug)]
pub struct Hardware {
    /// Logical CPUs.
    pub cores: usize,
    /// The CPU model name.
    pub model: String,
    /// Memory in GiB.
    pub mem_gib: f64,
}

/// Reads the CPU model, core count and memory size from `/proc`.
pub fn hardware() -> Hardware {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / f64::from(1u32 << 20));
    Hardware {
        cores,
        model,
        mem_gib,
    }
}

/// A "met?" cell: "yes", or a bold "**no**".
pub fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}
