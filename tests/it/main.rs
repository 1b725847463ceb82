//! One test per workflow file under `tests/workflows/`, each running the real `solstice` binary
//! (build it first: `cargo build --workspace --bins`). The header grammar is in `tests/README.md`.

mod compose;

/// Declares one `#[test]` per name (the file is the name with dashes, `.yml`) and the list of
/// names, so a listed file that is missing fails its test and an unlisted file fails
/// `every_workflow_file_has_a_test`.
macro_rules! workflow_tests {
    ($subdir:literal: $($name:ident)*) => {
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                e2e::check_workflow(&e2e::workflow_file($subdir, stringify!($name)));
            }
        )*
    };
}

mod valid {
    workflow_tests!("":
        add_mask
        checkout
        colour_env
        colour_env_override
        continue_on_error
        debug_hidden
        debug_secret
        debug_var
        default_env_vars
        defaults_shell
        defaults_working_directory
        env_cli
        env_precedence
        error_annotation
        event_title_stays_text
        exit_code_reported
        expr_contains_fromjson
        expr_format
        expr_string_functions
        expr_tojson_matrix
        failure_skips_later_steps
        github_env
        github_env_heredoc
        github_output
        github_output_heredoc
        github_path
        group
        if_cancelled
        if_expression_syntax
        inputs_defaults_and_types
        job_filter
        job_if_skipped
        job_output_secret
        job_outputs
        job_timeout
        matrix_fail_fast
        matrix_fail_fast_false
        matrix_filter
        matrix_from_job_output
        matrix_include_exclude
        matrix_include_expand
        names_with_expressions
        needs_failed_skips
        needs_order
        notice_annotation
        script_temp_file
        secret_in_output
        secret_masked
        secret_multiline
        shell_bash_pipefail
        shell_custom_bash_template
        shell_custom_perl
        shell_default_errexit
        shell_default_no_pipefail
        shell_pwsh_missing
        shell_python
        shell_sh
        step_default_name
        step_summary
        step_timeout
        steps_outcome_conclusion
        stop_commands
        vars_and_inputs
        warning_annotation
    );
}

mod invalid {
    workflow_tests!("invalid":
        all_combinations_excluded
        calls_another_workflow
        cyclic_needs
        job_with_image
        job_with_sidecar
        matrix_empty_vector
        needs_unknown_job
        unknown_key
        unparsable_run
        uses_setup_node
        yaml_syntax
    );
}

/// Header mistakes show up here even before `solstice` is built.
#[test]
fn every_workflow_header_parses() {
    let mut broken = Vec::new();
    for (subdir, names) in [("", valid::NAMES), ("invalid", invalid::NAMES)] {
        for name in names {
            let file = e2e::workflow_file(subdir, name);
            let parsed = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|text| e2e::header::parse(&text).map(drop).map_err(|e| e.to_string()));
            if let Err(e) = parsed {
                broken.push(format!("{}: {e}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "bad workflow headers:\n{}", broken.join("\n"));
}

#[test]
fn every_workflow_file_has_a_test() {
    for (subdir, names) in [("", valid::NAMES), ("invalid", invalid::NAMES)] {
        let dir = e2e::workflows_dir().join(subdir);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let mut untested = Vec::new();
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".yml")) else {
                continue;
            };
            if !names.contains(&stem.replace('-', "_").as_str()) {
                untested.push(path.display().to_string());
            }
        }
        assert!(untested.is_empty(), "workflow files without a test in tests/it/main.rs: {untested:?}");
    }
}
