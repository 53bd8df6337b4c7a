//! The workspace's other binaries, as a test of one of them finds them: cargo builds every
//! binary of the workspace into the same directory, so a daemon sits next to the binary under
//! test (`CARGO_BIN_EXE_<name>`).

use std::path::{Path, PathBuf};

/// The binary `name` next to `beside`, if it is built. Missing: a test failure under CI (its
/// step builds the workspace first), a printed note and `None` elsewhere (a lone `cargo test
/// -p` does not build the other crates' binaries).
pub fn sibling(beside: &Path, name: &str) -> Option<PathBuf> {
    let path = beside
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Some(path);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
    assert!(
        !in_ci,
        "CI is set but {name} is not built next to {}",
        beside.display()
    );
    eprintln!("note: {name} not built (run cargo test --workspace); test skipped");
    None
}
