//! End-to-end tests that drive the real `podstack` and `podstack-remote` binaries with real
//! clients. They arrive with the emulator and the CLI.
