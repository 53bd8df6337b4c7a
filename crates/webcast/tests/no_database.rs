//! The protocol crate never pulls a database into the build: `cargo tree` of its normal
//! dependencies names no driver, no ORM and no pool. A dependency that brings one back (say,
//! a type borrowed from core-models) fails here, not in a review months later.

use std::path::Path;
use std::process::Command;

/// Crates that mean "a database is in the build".
const FORBIDDEN: &[&str] = &["diesel", "mysql_async", "libsqlite3-sys", "r2d2"];

#[test]
fn no_database_crate_in_the_normal_dependencies() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // Offline and from the lockfile: no network, a fraction of a second.
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--edges", "normal", "--prefix", "none"])
        .args([
            "--format",
            "{lib}",
            "--package",
            "webcast",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree.lines().map(str::trim).collect();
    assert!(
        crates.contains(&"webcast") && crates.contains(&"prost"),
        "cargo tree did not list webcast's dependencies: {tree}"
    );
    let found: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|name| crates.iter().any(|c| *c == name.replace('-', "_")))
        .collect();
    assert!(
        found.is_empty(),
        "webcast must never depend on a database, but its build pulls in {found:?}"
    );
}
