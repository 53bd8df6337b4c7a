//! Compiles `proto/webcast/*.proto` (at the workspace root) into Rust with prost.
//!
//! The `.proto` files are parsed by protox, a pure-Rust compiler, so no system `protoc` is
//! needed on any platform.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let files = [
        "webcast/im.proto",
        "webcast/data.proto",
        "webcast/messages.proto",
        "webcast/battle.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let descriptors = protox::compile(files, [&proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
