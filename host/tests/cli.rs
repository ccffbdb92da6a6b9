//! The binary answers for itself. (Being an integration test of this package, this also makes
//! `cargo test --workspace` build the `sluice` binary that the end-to-end tests in `tests/` run.)

use std::process::Command;

#[test]
fn version_and_help() {
    let bin = env!("CARGO_BIN_EXE_sluice");
    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sluice "));
    let out = Command::new(bin).arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}
