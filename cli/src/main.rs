//! `podstack`: the command line. Only `--version` exists until the CLI issue lands.

fn main() {
    println!("podstack {}", env!("CARGO_PKG_VERSION"));
}
