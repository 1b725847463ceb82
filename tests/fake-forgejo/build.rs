//! Generates the prost types and their protojson serde impls for runner.v1 and ping.v1 from the
//! repository's `proto/` directory, with protox so that no `protoc` is needed on the build machine.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: two checkouts sharing one
    // target directory may share the compiled script too.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [root.join("runner/v1/runner.proto"), root.join("ping/v1/ping.proto")];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    // protox carries the well-known types (google/protobuf/*.proto) itself.
    let descriptors = protox::compile(&files, [&root])?;
    let encoded = descriptors.encode_to_vec();

    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)?;

    // The Go server's protojson codec discards unknown fields, so the fake does too.
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .ignore_unknown_fields()
        .build(&[".runner.v1", ".ping.v1"])?;
    Ok(())
}
