//! Compiles the Forgejo runner protos with protox (a protobuf compiler in Rust, so the build
//! machine needs no `protoc`) and generates prost types from the descriptors.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: two checkouts sharing one
    // target directory may share the compiled script too.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [root.join("runner/v1/runner.proto"), root.join("ping/v1/ping.proto")];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
