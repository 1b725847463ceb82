//! What the deployment files may refer to, read from the workspace itself: the binaries it
//! builds and the `SOLSTICE_*` variables their sources name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's root (the e2e package is `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Every `"SOLSTICE_…"` string literal in `crates/*/src/**/*.rs`: the names the binaries (and
/// the libraries they link) look up, whether through `std::env::var`, clap's `env = "…"` or a
/// constant. A name only a comment mentions is not read, so comments are not scanned.
pub fn solstice_env_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let crates = root().join("crates");
    for entry in std::fs::read_dir(&crates).expect("crates/ is readable") {
        let src = entry.expect("a crates/ entry").path().join("src");
        if src.is_dir() {
            for file in rust_files(&src) {
                let text = std::fs::read_to_string(&file).expect("a readable source file");
                names.extend(string_literals_named_solstice(&text));
            }
        }
    }
    names
}

/// The `SOLSTICE_[A-Z0-9_]+` names that stand alone between double quotes in `text`, outside
/// `//` comments.
pub fn string_literals_named_solstice(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (start, _) in line.match_indices("\"SOLSTICE_") {
            let rest = &line[start + 1..];
            let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
            if let Some(end) = end
                && rest[end..].starts_with('"')
            {
                names.insert(rest[..end].to_owned());
            }
        }
    }
    names
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a readable source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The binaries `cargo build --workspace --bins` makes from `crates/`: each `[[bin]]` name, and
/// the package's own name when it has `src/main.rs` and no `[[bin]]`.
pub fn binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates/ is readable") {
        let dir = entry.expect("a crates/ entry").path();
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let manifest: toml::Table = text.parse().expect("a crate manifest parses");
        let declared: Vec<String> = manifest
            .get("bin")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|bin| bin.get("name").and_then(toml::Value::as_str).map(str::to_owned))
            .collect();
        if declared.is_empty() && dir.join("src/main.rs").is_file() {
            let package = manifest.get("package").and_then(|p| p.get("name")).and_then(toml::Value::as_str);
            bins.extend(package.map(str::to_owned));
        }
        bins.extend(declared);
    }
    bins
}

#[test]
fn only_quoted_names_outside_comments_count() {
    let text = "let a = env(\"SOLSTICE_AMQP_URL\");\n\
                // env(\"SOLSTICE_IN_A_COMMENT\")\n\
                #[arg(long, env = \"SOLSTICE_LABELS\", value_delimiter = ',')]\n\
                format!(\"SOLSTICE_CAPACITY is not a number: {text:?}\")\n\
                let b = \"SOLSTICE_lower\";\n";
    let names: Vec<String> = string_literals_named_solstice(text).into_iter().collect();
    assert_eq!(names, ["SOLSTICE_AMQP_URL", "SOLSTICE_LABELS"]);
}

#[test]
fn the_scan_finds_what_the_daemons_read_and_the_binaries_they_are() {
    let names = solstice_env_names();
    for name in ["SOLSTICE_AMQP_URL", "SOLSTICE_BUS_KEY", "SOLSTICE_STATE_DIR", "SOLSTICE_ACCEL"] {
        assert!(names.contains(name), "{name} not found among {names:?}");
    }
    let bins = binaries();
    for bin in ["orchestrator", "forgejo-runner", "github-runner", "solstice", "workflow-runner"] {
        assert!(bins.contains(bin), "{bin} not found among {bins:?}");
    }
    assert!(!bins.contains("orchestrator-daemon"), "a package with [[bin]] is known by its binary's name");
}
