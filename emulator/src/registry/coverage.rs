//! `docs/coverage.md`: every operation of every service's model, implemented or not,
//! rendered from the registry and the models. A test compares the committed file with the
//! rendering (`PODSTACK_UPDATE_DOCS=1 cargo test -p emulator coverage` rewrites it).

use std::fmt::Write;

use super::SERVICES;
use crate::protocol::models::BOTOCORE;

/// The whole page.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# Coverage\n\n");
    let _ = writeln!(
        out,
        "Every operation of the AWS model of each service podstack emulates, and whether \
         podstack implements it. Generated from the service registry \
         (`emulator/src/registry.rs`) and the botocore {BOTOCORE} models \
         (`codegen/services.json`) by `PODSTACK_UPDATE_DOCS=1 cargo test -p emulator \
         coverage`; the test suite fails when this page is stale.\n\n\
         An operation that is not implemented answers `NotImplemented` (HTTP 501) in its \
         protocol's error shape, naming the service and the operation. \"Changes state\" \
         operations are the ones persistence waits for under `SNAPSHOT_SAVE_STRATEGY=ON_REQUEST`.\n"
    );
    out.push_str("| service | protocols | implemented | operations |\n|---|---|---:|---:|\n");
    for d in SERVICES {
        let protocols: Vec<&str> = d.model.meta.protocols.iter().map(|p| p.name()).collect();
        let _ = writeln!(
            out,
            "| [{name}](#{name}) | {} | {} | {} |",
            protocols.join(", "),
            d.ops.len(),
            d.model.operations.len(),
            name = d.name,
        );
    }
    for d in SERVICES {
        let m = &d.model.meta;
        let _ = writeln!(
            out,
            "\n## {}\n\n{} (API {}, signing name `{}`).\n\n| operation | implemented | changes state |\n|---|---|---|",
            d.name, m.full_name, m.api_version, m.signing_name
        );
        for op in d.model.operations {
            let row = match d.op(op.name) {
                Some(o) => format!("yes | {}", if o.mutates { "yes" } else { "no" }),
                None => "— |".to_owned(),
            };
            let _ = writeln!(out, "| {} | {row} |", op.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn coverage_page_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/coverage.md");
        let want = super::markdown();
        if std::env::var_os("PODSTACK_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).expect("write docs/coverage.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/coverage.md is stale: run PODSTACK_UPDATE_DOCS=1 cargo test -p emulator coverage"
        );
    }
}
