//! The systemd units under `deploy/systemd/`, their settings templates and
//! `solstice install`: the units parse as systemd's INI dialect with the keys a service
//! of ours needs, `ExecStart` runs a binary the workspace builds, every template names only
//! variables a binary reads, and `solstice install` writes private settings files with one key.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::workspace;

/// A unit file: `(section, key, value)` in file order; keys may repeat (`DeviceAllow=`).
type Unit = Vec<(String, String, String)>;

/// Parses systemd's INI dialect: `[Section]` headers, `Key=Value` lines, `#`/`;` comments, a
/// trailing backslash continuing a line. Anything else is an error naming the line.
fn parse_unit(text: &str) -> Result<Unit, String> {
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    let mut pending = String::new();
    for (number, raw) in text.lines().enumerate() {
        let line = if pending.is_empty() { raw.trim().to_owned() } else { format!("{pending} {}", raw.trim()) };
        if let Some(start) = line.strip_suffix('\\') {
            pending = start.trim_end().to_owned();
            continue;
        }
        pending.clear();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            section = Some(name.to_owned());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: neither a section, a comment nor Key=Value: {raw:?}", number + 1));
        };
        let Some(section) = &section else {
            return Err(format!("line {}: {key} before any [Section]", number + 1));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("line {}: {key:?} is not a key", number + 1));
        }
        entries.push((section.clone(), key.to_owned(), value.trim().to_owned()));
    }
    Ok(entries)
}

fn values<'a>(unit: &'a Unit, section: &str, key: &str) -> Vec<&'a str> {
    unit.iter().filter(|(s, k, _)| s == section && k == key).map(|(_, _, v)| v.as_str()).collect()
}

fn deploy_dir() -> PathBuf {
    workspace::root().join("deploy/systemd")
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("deploy/systemd is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// The problems of one unit; `templates` are the `.env` file names beside it.
fn unit_problems(name: &str, unit: &Unit, bins: &BTreeSet<String>, templates: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut require = |section: &str, key: &str| {
        let found = values(unit, section, key);
        if found.is_empty() {
            problems.push(format!("{name}: no {key}= in [{section}]"));
        }
        found
    };
    require("Unit", "Description");
    let exec = require("Service", "ExecStart");
    let env_files = require("Service", "EnvironmentFile");
    let state = require("Service", "StateDirectory");
    let restart = require("Service", "Restart");
    require("Install", "WantedBy");
    for line in exec {
        let program = line.split_whitespace().next().unwrap_or_default();
        let file = Path::new(program).file_name().and_then(|f| f.to_str()).unwrap_or_default();
        if !program.starts_with("/usr/local/bin/") || !bins.contains(file) {
            problems.push(format!("{name}: ExecStart runs {program:?}, not a workspace binary in /usr/local/bin"));
        }
    }
    for file in env_files {
        let template = file.trim_start_matches('-').strip_prefix("/etc/solstice/").unwrap_or_default();
        if !template.ends_with(".env") || !templates.contains(template) {
            problems.push(format!("{name}: EnvironmentFile {file} has no template in deploy/systemd/"));
        }
    }
    if state.iter().any(|dir| dir.contains('/') || dir.is_empty()) {
        problems.push(format!("{name}: StateDirectory must be a name under /var/lib: {state:?}"));
    }
    if restart != ["on-failure"] {
        problems.push(format!("{name}: Restart={restart:?}, not on-failure"));
    }
    // A unit that boots VMs: passt drops to `nobody` and must traverse the state dir down to its
    // socket directory, which the executor creates 0711, so neither the state dir's mode nor the
    // umask may take the others' execute bit away.
    let runs_vms = exec_binaries(unit).iter().any(|bin| bin == "orchestrator" || bin == "solstice");
    let octal = |key: &str| values(unit, "Service", key).last().and_then(|v| u32::from_str_radix(v, 8).ok());
    if runs_vms {
        if octal("StateDirectoryMode").is_none_or(|mode| mode & 0o001 == 0) {
            problems.push(format!("{name}: StateDirectoryMode must let `nobody` traverse (e.g. 0711)"));
        }
        if octal("UMask").is_some_and(|mask| mask & 0o001 != 0) {
            problems.push(format!("{name}: a UMask that clears the others' execute bit locks passt out"));
        }
    }
    problems
}

/// The file names of the programs `ExecStart=` runs.
fn exec_binaries(unit: &Unit) -> Vec<String> {
    values(unit, "Service", "ExecStart")
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|program| Path::new(program).file_name()?.to_str().map(str::to_owned))
        .collect()
}

/// `NAME=value` lines of a settings template.
fn template_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

#[test]
fn units_parse_with_the_keys_a_service_needs_and_run_workspace_binaries() {
    let bins = workspace::binaries();
    let templates: BTreeSet<String> = files_ending(&deploy_dir(), ".env")
        .iter()
        .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
        .collect();
    let units = files_ending(&deploy_dir(), ".service");
    let names: Vec<String> = units.iter().filter_map(|p| p.file_name()?.to_str().map(str::to_owned)).collect();
    assert_eq!(
        names,
        [
            "solstice-forgejo-runner.service",
            "solstice-github-runner.service",
            "solstice-orchestrator.service",
            "solstice-serve.service"
        ]
    );
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (path, name) in units.iter().zip(&names) {
        let text = std::fs::read_to_string(path).expect("a readable unit");
        match parse_unit(&text) {
            Ok(unit) => {
                problems.extend(unit_problems(name, &unit, &bins, &templates));
                used.extend(
                    values(&unit, "Service", "EnvironmentFile").iter().map(|f| f.replace("/etc/solstice/", "")),
                );
            }
            Err(error) => problems.push(format!("{name}: {error}")),
        }
    }
    for unused in templates.difference(&used) {
        problems.push(format!("deploy/systemd/{unused} is no unit's EnvironmentFile"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn templates_and_units_set_only_variables_a_binary_reads() {
    let known = workspace::solstice_env_names();
    let mut problems = Vec::new();
    for path in files_ending(&deploy_dir(), ".env") {
        let names = template_names(&std::fs::read_to_string(&path).expect("a readable template"));
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_owned();
        for name in names.iter().filter(|n| n.starts_with("SOLSTICE_") && !known.contains(*n)) {
            problems.push(format!("{file}: {name} is read by no binary"));
        }
        if file != "serve.env" {
            for required in super::rules::REQUIRED_BY_DAEMONS {
                if !names.iter().any(|n| n == required) {
                    problems.push(format!("{file}: the daemon exits 2 without {required}"));
                }
            }
        }
    }
    for path in files_ending(&deploy_dir(), ".service") {
        let unit = parse_unit(&std::fs::read_to_string(&path).expect("a readable unit")).expect("the unit parses");
        for setting in values(&unit, "Service", "Environment") {
            let name = setting.split_once('=').map_or(setting, |(name, _)| name);
            if name.starts_with("SOLSTICE_") && !known.contains(name) {
                problems.push(format!("{}: {name} is read by no binary", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_broken_unit_is_refused_with_the_line_or_the_key() {
    let bins: BTreeSet<String> = ["orchestrator".to_owned()].into();
    let templates: BTreeSet<String> = ["orchestrator.env".to_owned()].into();
    assert!(parse_unit("Description=x\n[Unit]\n").is_err_and(|e| e.contains("before any [Section]")));
    assert!(parse_unit("[Unit]\nDescription x\n").is_err_and(|e| e.contains("line 2")));
    let unit = parse_unit(
        "[Unit]\nDescription=d\n[Service]\nExecStart=/usr/bin/orchestrator \\\n  --labels a\n\
         EnvironmentFile=/etc/solstice/other.env\nStateDirectory=solstice\nRestart=always\n",
    )
    .expect("it parses");
    assert_eq!(values(&unit, "Service", "ExecStart"), ["/usr/bin/orchestrator --labels a"]);
    let problems = unit_problems("x.service", &unit, &bins, &templates).join("\n");
    for expected in ["not a workspace binary", "other.env has no template", "not on-failure", "no WantedBy="] {
        assert!(problems.contains(expected), "expected {expected:?} in:\n{problems}");
    }

    let private = parse_unit(
        "[Unit]\nDescription=d\n[Service]\nExecStart=/usr/local/bin/orchestrator\n\
         EnvironmentFile=/etc/solstice/orchestrator.env\nStateDirectory=solstice\nStateDirectoryMode=0700\n\
         UMask=0077\nRestart=on-failure\n[Install]\nWantedBy=multi-user.target\n",
    )
    .expect("it parses");
    let problems = unit_problems("o.service", &private, &bins, &templates).join("\n");
    assert!(problems.contains("must let `nobody` traverse"), "{problems}");
    assert!(problems.contains("locks passt out"), "{problems}");
}

/// `solstice install ARGS`, the real binary.
fn install_units(args: &[&str]) -> std::process::Output {
    let solstice = e2e::solstice::binary().unwrap_or_else(|reason| panic!("{reason}"));
    Command::new(solstice).arg("install").args(args).output().expect("solstice install runs")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[test]
fn solstice_install_writes_private_settings_sharing_one_new_key() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let staged = root.path().to_str().expect("a UTF-8 path");
    let out = install_units(&["--root", staged]);
    assert!(out.status.success(), "install-units failed: {}", String::from_utf8_lossy(&out.stderr));

    for unit in files_ending(&deploy_dir(), ".service") {
        let name = unit.file_name().expect("a file name");
        let installed = root.path().join("etc/systemd/system").join(name);
        assert_eq!(std::fs::read(&installed).ok(), std::fs::read(&unit).ok(), "{}", installed.display());
        assert_eq!(mode(&installed), 0o644);
    }
    assert_eq!(mode(&root.path().join("etc/solstice")), 0o700);
    let binary = root.path().join("usr/local/bin/solstice");
    assert_eq!(mode(&binary), 0o755, "the running solstice is installed for solstice-serve.service");
    assert_eq!(std::fs::read(&binary).ok(), std::fs::read(e2e::solstice::binary().expect("built")).ok());
    let mut keys = BTreeSet::new();
    for template in files_ending(&deploy_dir(), ".env") {
        let installed = root.path().join("etc/solstice").join(template.file_name().expect("a file name"));
        assert_eq!(mode(&installed), 0o600, "{} holds secrets", installed.display());
        let text = std::fs::read_to_string(&installed).expect("an installed settings file");
        assert!(!text.contains("@BUS_KEY@"), "{}: the key placeholder is left", installed.display());
        keys.extend(text.lines().filter_map(|line| line.strip_prefix("SOLSTICE_BUS_KEY=")).map(str::to_owned));
    }
    assert_eq!(keys.len(), 1, "one key shared by every settings file: {keys:?}");
    let key = keys.into_iter().next().expect("a key");
    // Standard base64 of 32 bytes: 44 characters ending in one `=`.
    assert!(key.len() == 44 && key.ends_with('=') && !key[..43].contains('='), "{key:?}");

    // A second run keeps the settings an operator may have edited, key included.
    let orchestrator_env = root.path().join("etc/solstice/orchestrator.env");
    std::fs::write(&orchestrator_env, "SOLSTICE_AMQP_URL=amqp://edited\n").expect("an edit");
    let again = install_units(&["--root", staged]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::read_to_string(&orchestrator_env).ok().as_deref(), Some("SOLSTICE_AMQP_URL=amqp://edited\n"));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists; kept as it is"));
}

#[test]
fn solstice_install_dry_run_changes_nothing_and_bad_arguments_exit_2() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let staged = root.path().join("staging");
    let out = install_units(&["--dry-run", "--root", staged.to_str().expect("a UTF-8 path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("would write: ") && stdout.contains("orchestrator.env (mode 0600"), "{stdout}");
    assert!(stdout.contains("solstice-orchestrator.service"), "{stdout}");
    assert!(!staged.exists(), "a dry run created {}", staged.display());

    let bad = install_units(&["--no-such-flag"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--no-such-flag"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let missing = install_units(&["--root", staged.to_str().expect("a UTF-8 path"), "--binaries", "/nonexistent"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/orchestrator is missing"));
}
