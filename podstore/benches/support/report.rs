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
