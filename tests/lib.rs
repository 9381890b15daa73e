//! Workspace-level tests (`tests/tests/*.rs`): checks on the repository as a
//! whole (layout, README, CI) and the `cargo build` integration on a copy of
//! the workspace. Tests that drive the `tenants` binary live in
//! `compiler/tests/cli.rs`, where cargo hands them the freshly built binary.
