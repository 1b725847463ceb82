//! The `solstice` binary as a user runs it: exit codes for bad input and missing dependencies,
//! `--input` checked against the workflow's input definitions, and the job log format, with a
//! fake agent standing in for `workflow-runner`.

mod exit_codes;
mod images;
mod inputs;
mod job_log;
mod serve;
mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const WORKFLOW: &str = "\
name: cli test
on: push
jobs:
  greet:
    runs-on: linux-test
    steps:
      - name: greet
        run: echo hello
";

const MATRIX_WORKFLOW: &str = "\
name: matrix
on: push
jobs:
  m:
    runs-on: linux-test
    strategy:
      matrix:
        os: [linux, bsd]
    steps:
      - run: echo ${{ matrix.os }}
";

/// A directory with `workflow.yml` holding `text`.
fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("workflow.yml"), text).unwrap();
    dir
}

/// `solstice run ARGS` in `dir`, with no `SOLSTICE_*` from the caller and `env` added.
fn solstice_in(binary: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary);
    command.arg("run").args(args).current_dir(dir).stdin(Stdio::null());
    for (name, _) in std::env::vars_os().filter(|(n, _)| n.to_string_lossy().starts_with("SOLSTICE_")) {
        command.env_remove(name);
    }
    command.env("SOLSTICE_STATE_DIR", dir.join("state"));
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn solstice(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    solstice_in(Path::new(env!("CARGO_BIN_EXE_solstice")), dir, args, env)
}

/// An agent dir laid out as `$SOLSTICE_AGENT_DIR/<host target>/workflow-runner`, pointing at a
/// fixture script.
fn agent_dir(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(orchestrator::HOST_TARGET);
    std::fs::create_dir_all(&target).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures").join(fixture);
    std::os::unix::fs::symlink(script, target.join(orchestrator::AGENT_NAME)).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}
