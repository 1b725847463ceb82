use crate::{MATRIX_WORKFLOW, WORKFLOW, assert_exit, project, solstice, solstice_in, text};

#[test]
fn a_missing_workflow_file_is_bad_input_named_by_path() {
    let dir = project(WORKFLOW);
    let output = solstice(dir.path(), &["--executor", "local", "nowhere.yml"], &[]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("nowhere.yml"), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
}

#[test]
fn a_workflow_that_is_not_yaml_is_bad_input_with_file_and_line() {
    let dir = project("jobs:\n  a:\n    runs-on: [linux-test\n");
    let output = solstice(dir.path(), &["--executor", "local", "workflow.yml"], &[]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("workflow.yml:"), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
}

#[test]
fn an_unknown_job_is_bad_input() {
    let dir = project(WORKFLOW);
    let output = solstice(dir.path(), &["--executor", "local", "--job", "nope", "workflow.yml"], &[]);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nope") && stderr.contains("greet"), "{stderr}");
}

#[test]
fn an_event_file_that_is_not_json_is_bad_input() {
    let dir = project(WORKFLOW);
    std::fs::write(dir.path().join("event.json"), "{ not json").unwrap();
    let output = solstice(dir.path(), &["--executor", "local", "--event-file", "event.json", "workflow.yml"], &[]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("event.json"), "{}", text(&output.stderr));

    let output = solstice(dir.path(), &["--executor", "local", "--event-file", "missing.json", "workflow.yml"], &[]);
    assert_exit(&output, 2);
}

#[test]
fn a_matrix_filter_that_matches_nothing_is_bad_input() {
    let dir = project(MATRIX_WORKFLOW);
    for filter in ["os=windows", "arch=x64"] {
        let output = solstice(dir.path(), &["--executor", "local", "--matrix", filter, "workflow.yml"], &[]);
        assert_exit(&output, 2);
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_malformed_key_value_is_a_usage_error() {
    let dir = project(WORKFLOW);
    let output = solstice(dir.path(), &["--executor", "local", "--env", "NOEQUALS", "workflow.yml"], &[]);
    assert_exit(&output, 2);
}

#[test]
fn qemu_is_the_default_and_a_missing_image_is_a_missing_dependency() {
    // The state dir is the project's own (`solstice_in`), so no image is there.
    let dir = project(WORKFLOW);
    let output = solstice(dir.path(), &["workflow.yml"], &[]);
    assert_exit(&output, 3);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("image linux-test is not on this host"), "{stderr}");
    assert!(stderr.contains("images/build-test-image.sh"), "says how to build it: {stderr}");
    assert!(!stderr.contains("no isolation"), "no fallback to local: {stderr}");
    assert!(output.stdout.is_empty(), "nothing ran");

    let output = solstice(dir.path(), &["workflow.yml"], &[("SOLSTICE_EXECUTOR", "qemu")]);
    assert_exit(&output, 3);
    // The flag wins over the environment.
    let output = solstice(dir.path(), &["--executor", "qemu", "workflow.yml"], &[("SOLSTICE_EXECUTOR", "local")]);
    assert_exit(&output, 3);
    assert!(!text(&output.stderr).contains("no isolation"));
}

#[test]
fn a_label_the_catalog_does_not_have_is_bad_input_for_qemu() {
    let dir = project(&WORKFLOW.replace("linux-test", "ubuntu-latest"));
    let output = solstice(dir.path(), &["workflow.yml"], &[]);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("ubuntu-latest") && stderr.contains("linux-test"), "{stderr}");
}

#[test]
fn a_bad_accelerator_setting_is_bad_input() {
    let dir = project(WORKFLOW);
    let output = solstice(dir.path(), &["workflow.yml"], &[("SOLSTICE_ACCEL", "hvf")]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("SOLSTICE_ACCEL"), "{}", text(&output.stderr));
}

#[test]
fn an_unknown_executor_is_a_usage_error() {
    let dir = project(WORKFLOW);
    let output = solstice(dir.path(), &["workflow.yml"], &[("SOLSTICE_EXECUTOR", "docker")]);
    assert_exit(&output, 2);
}

#[test]
fn a_missing_agent_is_a_missing_dependency() {
    // A copy of the binary in a directory of its own has no agent beside it.
    let dir = project(WORKFLOW);
    let lonely = dir.path().join("bin");
    std::fs::create_dir_all(&lonely).unwrap();
    let copy = lonely.join("solstice");
    std::fs::copy(env!("CARGO_BIN_EXE_solstice"), &copy).unwrap();
    let output = solstice_in(
        &copy,
        dir.path(),
        &["--executor", "local", "workflow.yml"],
        &[("SOLSTICE_AGENT_DIR", "/nonexistent-agent-dir")],
    );
    assert_exit(&output, 3);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("workflow-runner") && stderr.contains("/nonexistent-agent-dir"), "{stderr}");
}
