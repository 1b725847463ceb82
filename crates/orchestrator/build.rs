//! Records the target triple this crate is built for: the local executor looks for the agent
//! under `$SOLSTICE_AGENT_DIR/<host target triple>/`.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=SOLSTICE_HOST_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
