use crate::{MATRIX_WORKFLOW, WORKFLOW, agent_dir, assert_exit, project, solstice, text};

#[test]
fn the_job_log_is_printed_as_documented() {
    let dir = project(WORKFLOW);
    let agents = agent_dir("agent-succeeds.sh");
    let agent_dir = agents.path().to_str().unwrap();
    let output = solstice(dir.path(), &["--executor", "local", "workflow.yml"], &[("SOLSTICE_AGENT_DIR", agent_dir)]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "\
[greet] === Set up job
[greet] fake agent
[greet] === greet
[greet] hello
[greet] --- greet: success
[greet] output word=hi
[greet] job success
"
    );
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches("no isolation").count(), 1, "one warning: {stderr}");
    let state = std::fs::read_dir(dir.path().join("state/work")).unwrap().count();
    assert_eq!(state, 0, "a work dir was left behind");
}

#[test]
fn a_failed_job_exits_1_and_the_executor_comes_from_the_environment() {
    let dir = project(MATRIX_WORKFLOW);
    let agents = agent_dir("agent-fails.sh");
    let agent_dir = agents.path().to_str().unwrap();
    let env = [("SOLSTICE_AGENT_DIR", agent_dir), ("SOLSTICE_EXECUTOR", "local")];
    let output = solstice(dir.path(), &["workflow.yml"], &env);
    assert_exit(&output, 1);
    let stdout = text(&output.stdout);
    // fail-fast: the first combination fails, the second never starts.
    assert!(stdout.contains("[m (linux)] job failure"), "{stdout}");
    assert!(stdout.contains("[m (bsd)] job cancelled"), "{stdout}");
    assert!(!stdout.contains("[m (bsd)] === greet"), "{stdout}");
}

#[test]
fn a_matrix_filter_runs_only_matching_combinations() {
    let dir = project(MATRIX_WORKFLOW);
    let agents = agent_dir("agent-succeeds.sh");
    let agent_dir = agents.path().to_str().unwrap();
    let output = solstice(
        dir.path(),
        &["--executor", "local", "--matrix", "os=bsd", "workflow.yml"],
        &[("SOLSTICE_AGENT_DIR", agent_dir)],
    );
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("[m (bsd)] job success"), "{stdout}");
    assert!(!stdout.contains("[m (linux)]"), "{stdout}");
}
