//! The definitions of the workflow schema, after GitHub's published workflow syntax. A name
//! refers to another definition; `null`, `boolean`, `number`, `string`, `sequence`, `mapping`
//! and `any` are built in.

use std::collections::HashMap;

use super::{Definition, Kind, Prop};

const WORKFLOW: &[&str] = &["github", "inputs", "vars"];
const WORKFLOW_ENV: &[&str] = &["github", "inputs", "vars", "secrets"];
const WORKFLOW_OUTPUT: &[&str] = &["github", "inputs", "vars", "jobs"];
const NEEDS: &[&str] = &["github", "inputs", "vars", "needs"];
pub(crate) const JOB_IF: &[&str] =
    &["github", "inputs", "vars", "needs", "always(0,0)", "failure(0,MAX)", "cancelled(0,0)", "success(0,MAX)"];
const MATRIX: &[&str] = &["github", "inputs", "vars", "needs", "strategy", "matrix"];
const MATRIX_SECRETS: &[&str] = &["github", "inputs", "vars", "needs", "strategy", "matrix", "secrets"];
const JOB_DEFAULTS_RUN: &[&str] = &["github", "inputs", "vars", "strategy", "matrix", "needs", "env"];
const CREDENTIALS: &[&str] = &["github", "inputs", "vars", "secrets", "env"];
const RUNNER: &[&str] =
    &["github", "inputs", "vars", "needs", "strategy", "matrix", "secrets", "steps", "job", "runner", "env"];
const RUNNER_NO_SECRETS: &[&str] =
    &["github", "inputs", "vars", "needs", "strategy", "matrix", "steps", "job", "runner", "env"];
const STEPS: &[&str] = &[
    "github",
    "inputs",
    "vars",
    "needs",
    "strategy",
    "matrix",
    "secrets",
    "steps",
    "job",
    "runner",
    "env",
    "hashFiles(1,255)",
];
pub(crate) const STEP_IF: &[&str] = &[
    "github",
    "inputs",
    "vars",
    "needs",
    "strategy",
    "matrix",
    "steps",
    "job",
    "runner",
    "env",
    "always(0,0)",
    "failure(0,0)",
    "cancelled(0,0)",
    "success(0,0)",
    "hashFiles(1,255)",
];

/// Events with activity types (`types:`) and the filters they take besides `types`.
const EVENTS: &[(&str, &[&str], &[&str])] = &[
    ("branch_protection_rule", &["created", "edited", "deleted"], &[]),
    ("check_run", &["completed", "created", "rerequested", "requested_action"], &[]),
    ("check_suite", &["completed"], &[]),
    (
        "discussion",
        &[
            "created",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "category_changed",
            "answered",
            "unanswered",
        ],
        &[],
    ),
    ("discussion_comment", &["created", "edited", "deleted"], &[]),
    ("image_version", &["created", "ready", "deleted"], &["names", "versions"]),
    ("issue_comment", &["created", "edited", "deleted"], &[]),
    (
        "issues",
        &[
            "opened",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "closed",
            "reopened",
            "assigned",
            "unassigned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "milestoned",
            "demilestoned",
            "field_added",
            "field_removed",
            "typed",
            "untyped",
        ],
        &[],
    ),
    ("label", &["created", "edited", "deleted"], &[]),
    ("merge_group", &["checks_requested"], &["branches", "branches-ignore"]),
    ("milestone", &["created", "closed", "opened", "edited", "deleted"], &[]),
    ("project", &["created", "closed", "reopened", "edited", "deleted"], &[]),
    ("project_card", &["created", "moved", "converted", "edited", "deleted"], &[]),
    ("project_column", &["created", "updated", "moved", "deleted"], &[]),
    ("pull_request", PULL_REQUEST_TYPES, &["branches", "branches-ignore", "paths", "paths-ignore"]),
    ("pull_request_comment", &["created", "edited", "deleted"], &[]),
    ("pull_request_review", &["submitted", "edited", "dismissed"], &[]),
    ("pull_request_review_comment", &["created", "edited", "deleted"], &[]),
    ("pull_request_target", PULL_REQUEST_TYPES, &["branches", "branches-ignore", "paths", "paths-ignore"]),
    ("registry_package", &["published", "updated"], &[]),
    ("release", &["published", "unpublished", "created", "edited", "deleted", "prereleased", "released"], &[]),
    ("watch", &["started"], &[]),
    ("workflow_run", &["requested", "completed", "in_progress"], &["workflows", "branches", "branches-ignore"]),
];

const PULL_REQUEST_TYPES: &[&str] = &[
    "assigned",
    "unassigned",
    "labeled",
    "unlabeled",
    "opened",
    "edited",
    "closed",
    "reopened",
    "synchronize",
    "converted_to_draft",
    "locked",
    "unlocked",
    "enqueued",
    "dequeued",
    "milestoned",
    "demilestoned",
    "ready_for_review",
    "review_requested",
    "review_request_removed",
    "auto_merge_enabled",
    "auto_merge_disabled",
    "stacked",
];

/// Events that take no configuration at all.
const BARE_EVENTS: &[&str] =
    &["create", "delete", "deployment", "deployment_status", "fork", "gollum", "page_build", "public", "status"];

const PERMISSION_SCOPES: &[(&str, &str)] = &[
    ("actions", "permission-level-any"),
    ("artifact-metadata", "permission-level-any"),
    ("attestations", "permission-level-any"),
    ("checks", "permission-level-any"),
    ("code-quality", "permission-level-any"),
    ("contents", "permission-level-any"),
    ("copilot-requests", "permission-level-write-or-no-access"),
    ("deployments", "permission-level-any"),
    ("discussions", "permission-level-any"),
    ("drives", "permission-level-any"),
    ("id-token", "permission-level-write-or-no-access"),
    ("issues", "permission-level-any"),
    ("models", "permission-level-read-or-no-access"),
    ("packages", "permission-level-any"),
    ("pages", "permission-level-any"),
    ("pull-requests", "permission-level-any"),
    ("repository-projects", "permission-level-any"),
    ("security-events", "permission-level-any"),
    ("statuses", "permission-level-any"),
    ("vulnerability-alerts", "permission-level-read-or-no-access"),
];

struct Defs(HashMap<String, Definition>);

impl Defs {
    fn add(&mut self, name: &str, kind: Kind, context: &'static [&'static str]) {
        self.0.insert(name.to_string(), Definition { kind, context });
    }
    fn string(&mut self, name: &str, context: &'static [&'static str]) {
        self.add(name, Kind::String { non_empty: false }, context);
    }
    fn non_empty(&mut self, name: &str) {
        self.add(name, Kind::String { non_empty: true }, &[]);
    }
    fn constants(&mut self, name: &str, values: &'static [&'static str]) {
        self.add(name, Kind::Constants(values), &[]);
    }
    fn seq(&mut self, name: &str, item: &str) {
        self.add(name, Kind::Sequence { item: item.into() }, &[]);
    }
    fn one_of(&mut self, name: &str, members: &[&str], context: &'static [&'static str]) {
        self.add(name, Kind::OneOf(members.iter().map(|m| m.to_string()).collect()), context);
    }
    /// A mapping of well-known properties; a `!` after a name marks it required.
    fn map(&mut self, name: &str, props: &[(&str, &str)], context: &'static [&'static str]) {
        let props = props
            .iter()
            .map(|(p, ty)| Prop {
                name: p.trim_end_matches('!').to_string(),
                ty: ty.to_string(),
                required: p.ends_with('!'),
            })
            .collect();
        self.add(name, Kind::Mapping { props, loose: None }, context);
    }
    fn loose(&mut self, name: &str, key: &str, value: &str, context: &'static [&'static str]) {
        self.add(name, Kind::Mapping { props: Vec::new(), loose: Some((key.into(), value.into())) }, context);
    }
}

pub(super) fn all() -> HashMap<String, Definition> {
    let mut d = Defs(HashMap::new());
    builtins(&mut d);
    root(&mut d);
    events(&mut d);
    permissions(&mut d);
    jobs(&mut d);
    steps(&mut d);
    containers(&mut d);
    d.0
}

fn builtins(d: &mut Defs) {
    d.add("null", Kind::Null, &[]);
    d.add("boolean", Kind::Boolean, &[]);
    d.add("number", Kind::Number, &[]);
    d.string("string", &[]);
    d.seq("sequence", "any");
    d.loose("mapping", "string", "any", &[]);
    d.one_of("any", &["null", "boolean", "number", "string", "sequence", "mapping"], &[]);
    d.non_empty("non-empty-string");
    d.seq("sequence-of-non-empty-string", "non-empty-string");
    d.seq("sequence-of-string", "string");
    d.one_of("string-or-sequence", &["non-empty-string", "sequence-of-non-empty-string"], &[]);
}

fn root(d: &mut Defs) {
    d.map(
        "workflow-root",
        &[
            ("on!", "on"),
            ("name", "string"),
            ("description", "string"),
            ("run-name", "run-name"),
            ("defaults", "workflow-defaults"),
            ("env", "workflow-env"),
            ("permissions", "permissions"),
            ("concurrency", "workflow-concurrency"),
            ("jobs!", "jobs"),
        ],
        &[],
    );
    d.string("run-name", WORKFLOW);
    d.map("workflow-defaults", &[("run", "workflow-defaults-run")], &[]);
    d.map("workflow-defaults-run", &[("shell", "non-empty-string"), ("working-directory", "non-empty-string")], &[]);
    d.loose("workflow-env", "non-empty-string", "string", WORKFLOW_ENV);
    d.one_of("workflow-concurrency", &["string", "concurrency-mapping"], WORKFLOW);
    d.one_of("job-concurrency", &["non-empty-string", "concurrency-mapping"], MATRIX);
    d.map(
        "concurrency-mapping",
        &[("group!", "non-empty-string"), ("cancel-in-progress", "boolean"), ("queue", "concurrency-queue")],
        &[],
    );
    d.constants("concurrency-queue", &["single", "max"]);
}

fn events(d: &mut Defs) {
    let mut names: Vec<&str> = Vec::new();
    let mut props: Vec<(String, String)> = Vec::new();
    for (event, types, filters) in EVENTS {
        let mapping = format!("{event}-mapping");
        let activity = format!("{event}-activity");
        let activity_type = format!("{event}-activity-type");
        d.constants(&activity_type, types);
        d.seq(&format!("{event}-activity-types"), &activity_type);
        d.one_of(&activity, &[&activity_type, &format!("{event}-activity-types")], &[]);
        let mut event_props = vec![("types".to_string(), activity.clone())];
        event_props.extend(filters.iter().map(|f| (f.to_string(), "string-or-sequence".to_string())));
        let event_props: Vec<(&str, &str)> = event_props.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        d.map(&mapping, &event_props, &[]);
        d.one_of(&format!("event-{event}"), &["null", &mapping], &[]);
        names.push(event);
        props.push((event.to_string(), format!("event-{event}")));
    }
    for event in BARE_EVENTS {
        names.push(event);
        props.push((event.to_string(), "null".into()));
    }
    let push_filters = ["branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"];
    let push_props: Vec<(&str, &str)> = push_filters.iter().map(|f| (*f, "string-or-sequence")).collect();
    d.map("push-mapping", &push_props, &[]);
    d.one_of("event-push", &["null", "push-mapping"], &[]);
    d.map("repository-dispatch-mapping", &[("types", "sequence-of-non-empty-string")], &[]);
    d.one_of("event-repository_dispatch", &["null", "repository-dispatch-mapping"], &[]);
    d.seq("event-schedule", "cron-mapping");
    d.map("cron-mapping", &[("cron!", "non-empty-string"), ("timezone", "non-empty-string")], &[]);
    workflow_call(d);
    workflow_dispatch(d);
    for (event, def) in [
        ("push", "event-push"),
        ("repository_dispatch", "event-repository_dispatch"),
        ("schedule", "event-schedule"),
        ("workflow_call", "event-workflow_call"),
        ("workflow_dispatch", "event-workflow_dispatch"),
    ] {
        names.push(event);
        props.push((event.to_string(), def.to_string()));
    }

    let constants: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    d.constants("event-name", constants);
    d.seq("event-names", "event-name");
    let props: Vec<(&str, &str)> = props.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    d.map("on-mapping", &props, &[]);
    d.one_of("on", &["event-name", "event-names", "on-mapping"], &[]);
}

fn workflow_call(d: &mut Defs) {
    d.one_of("event-workflow_call", &["null", "workflow-call-mapping"], &[]);
    d.map(
        "workflow-call-mapping",
        &[
            ("inputs", "workflow-call-inputs"),
            ("secrets", "workflow-call-secrets"),
            ("outputs", "workflow-call-outputs"),
        ],
        &[],
    );
    d.loose("workflow-call-inputs", "non-empty-string", "workflow-call-input", &[]);
    d.map(
        "workflow-call-input",
        &[
            ("description", "string"),
            ("type!", "workflow-call-input-type"),
            ("required", "boolean"),
            ("default", "workflow-call-input-default"),
        ],
        &[],
    );
    d.constants("workflow-call-input-type", &["string", "boolean", "number"]);
    d.one_of("workflow-call-input-default", &["string", "boolean", "number"], WORKFLOW);
    d.loose("workflow-call-secrets", "non-empty-string", "workflow-call-secret", &[]);
    d.one_of("workflow-call-secret", &["null", "workflow-call-secret-mapping"], &[]);
    d.map("workflow-call-secret-mapping", &[("description", "string"), ("required", "boolean")], &[]);
    d.loose("workflow-call-outputs", "non-empty-string", "workflow-call-output", &[]);
    d.map("workflow-call-output", &[("description", "string"), ("value!", "workflow-output-context")], &[]);
    d.string("workflow-output-context", WORKFLOW_OUTPUT);
}

fn workflow_dispatch(d: &mut Defs) {
    d.one_of("event-workflow_dispatch", &["null", "workflow-dispatch-mapping"], &[]);
    d.map("workflow-dispatch-mapping", &[("inputs", "workflow-dispatch-inputs")], &[]);
    d.loose("workflow-dispatch-inputs", "non-empty-string", "workflow-dispatch-input", &[]);
    d.map(
        "workflow-dispatch-input",
        &[
            ("description", "string"),
            ("type", "workflow-dispatch-input-type"),
            ("required", "boolean"),
            ("default", "workflow-dispatch-input-default"),
            ("options", "sequence-of-string"),
        ],
        &[],
    );
    d.constants("workflow-dispatch-input-type", &["string", "boolean", "number", "environment", "choice"]);
    d.one_of("workflow-dispatch-input-default", &["string", "boolean", "number"], &[]);
}

fn permissions(d: &mut Defs) {
    d.one_of("permissions", &["permissions-mapping", "permissions-shorthand"], &[]);
    d.constants("permissions-shorthand", &["read-all", "write-all"]);
    d.map("permissions-mapping", PERMISSION_SCOPES, &[]);
    d.constants("permission-level-any", &["read", "write", "none"]);
    d.constants("permission-level-read-or-no-access", &["read", "none"]);
    d.constants("permission-level-write-or-no-access", &["write", "none"]);
}

fn jobs(d: &mut Defs) {
    d.loose("jobs", "non-empty-string", "job", &[]);
    d.one_of("job", &["job-factory", "workflow-job"], &[]);
    d.map(
        "job-factory",
        &[
            ("needs", "needs"),
            ("if", "job-if"),
            ("strategy", "strategy"),
            ("name", "string-strategy-context"),
            ("runs-on!", "runs-on"),
            ("timeout-minutes", "number-strategy-context"),
            ("cancel-timeout-minutes", "number-strategy-context"),
            ("continue-on-error", "boolean-strategy-context"),
            ("container", "container"),
            ("services", "services"),
            ("env", "job-env"),
            ("environment", "job-environment"),
            ("permissions", "permissions"),
            ("concurrency", "job-concurrency"),
            ("outputs", "job-outputs"),
            ("defaults", "job-defaults"),
            ("steps", "steps"),
            ("snapshot", "snapshot"),
        ],
        &[],
    );
    d.map(
        "workflow-job",
        &[
            ("name", "string-strategy-context"),
            ("uses!", "non-empty-string"),
            ("with", "workflow-job-with"),
            ("secrets", "workflow-job-secrets"),
            ("needs", "needs"),
            ("if", "job-if"),
            ("permissions", "permissions"),
            ("concurrency", "job-concurrency"),
            ("strategy", "strategy"),
        ],
        &[],
    );
    d.loose("workflow-job-with", "non-empty-string", "scalar-needs-context", &[]);
    d.one_of("workflow-job-secrets", &["workflow-job-secrets-mapping", "workflow-job-secrets-inherit"], &[]);
    d.loose("workflow-job-secrets-mapping", "non-empty-string", "scalar-needs-context-with-secrets", &[]);
    d.constants("workflow-job-secrets-inherit", &["inherit"]);
    d.one_of("needs", &["sequence-of-non-empty-string", "non-empty-string"], &[]);
    d.string("job-if", JOB_IF);
    d.map("strategy", &[("fail-fast", "boolean"), ("max-parallel", "number"), ("matrix", "matrix")], NEEDS);
    d.add(
        "matrix",
        Kind::Mapping {
            props: vec![
                super::Prop { name: "include".into(), ty: "matrix-filter".into(), required: false },
                super::Prop { name: "exclude".into(), ty: "matrix-filter".into(), required: false },
            ],
            loose: Some(("non-empty-string".into(), "sequence".into())),
        },
        &[],
    );
    d.seq("matrix-filter", "matrix-filter-item");
    d.loose("matrix-filter-item", "non-empty-string", "any", &[]);
    d.one_of("snapshot", &["non-empty-string", "snapshot-mapping"], &[]);
    d.map(
        "snapshot-mapping",
        &[("image-name!", "non-empty-string"), ("if", "snapshot-if"), ("version", "non-empty-string")],
        &[],
    );
    d.string("snapshot-if", MATRIX);
    d.one_of("runs-on", &["non-empty-string", "sequence-of-non-empty-string", "runs-on-mapping"], MATRIX);
    d.map("runs-on-mapping", &[("group", "non-empty-string"), ("labels", "string-or-sequence")], &[]);
    d.loose("job-env", "non-empty-string", "string", MATRIX_SECRETS);
    d.one_of("job-environment", &["string", "job-environment-mapping"], MATRIX);
    d.map(
        "job-environment-mapping",
        &[("name!", "job-environment-name"), ("url", "string-runner-context-no-secrets"), ("deployment", "boolean")],
        &[],
    );
    d.string("job-environment-name", MATRIX);
    d.map("job-defaults", &[("run", "job-defaults-run")], &[]);
    d.map(
        "job-defaults-run",
        &[("shell", "non-empty-string"), ("working-directory", "non-empty-string")],
        JOB_DEFAULTS_RUN,
    );
    d.loose("job-outputs", "non-empty-string", "string-runner-context", &[]);
    d.add("boolean-strategy-context", Kind::Boolean, MATRIX);
    d.add("number-strategy-context", Kind::Number, MATRIX);
    d.string("string-strategy-context", MATRIX);
    d.one_of("scalar-needs-context", &["string", "boolean", "number"], MATRIX);
    d.one_of("scalar-needs-context-with-secrets", &["string", "boolean", "number"], MATRIX_SECRETS);
    d.string("string-runner-context", RUNNER);
    d.string("string-runner-context-no-secrets", RUNNER_NO_SECRETS);
}

fn steps(d: &mut Defs) {
    d.seq("steps", "steps-item");
    d.one_of("steps-item", &["run-step", "regular-step"], &[]);
    d.map(
        "run-step",
        &[
            ("name", "step-name"),
            ("id", "non-empty-string"),
            ("if", "step-if"),
            ("timeout-minutes", "step-timeout-minutes"),
            ("run!", "string-steps-context"),
            ("continue-on-error", "step-continue-on-error"),
            ("env", "step-env"),
            ("working-directory", "string-steps-context"),
            ("shell", "non-empty-string"),
        ],
        &[],
    );
    d.map(
        "regular-step",
        &[
            ("name", "step-name"),
            ("id", "non-empty-string"),
            ("if", "step-if"),
            ("continue-on-error", "step-continue-on-error"),
            ("timeout-minutes", "step-timeout-minutes"),
            ("uses!", "non-empty-string"),
            ("with", "step-with"),
            ("env", "step-env"),
        ],
        &[],
    );
    d.string("step-name", STEPS);
    d.string("step-if", STEP_IF);
    d.add("step-timeout-minutes", Kind::Number, STEPS);
    d.add("step-continue-on-error", Kind::Boolean, STEPS);
    d.loose("step-env", "non-empty-string", "string", STEPS);
    d.loose("step-with", "non-empty-string", "string", STEPS);
    d.string("string-steps-context", STEPS);
}

fn containers(d: &mut Defs) {
    d.one_of("container", &["string", "container-mapping"], MATRIX);
    d.map(
        "container-mapping",
        &[
            ("image", "non-empty-string"),
            ("options", "string"),
            ("env", "container-env"),
            ("ports", "sequence-of-non-empty-string"),
            ("volumes", "sequence-of-non-empty-string"),
            ("credentials", "container-registry-credentials"),
        ],
        &[],
    );
    d.loose("services", "non-empty-string", "services-container", MATRIX);
    d.one_of("services-container", &["non-empty-string", "service-container-mapping"], MATRIX);
    d.map(
        "service-container-mapping",
        &[
            ("image", "non-empty-string"),
            ("options", "string"),
            ("env", "container-env"),
            ("ports", "sequence-of-non-empty-string"),
            ("volumes", "sequence-of-non-empty-string"),
            ("credentials", "container-registry-credentials"),
            ("entrypoint", "string"),
            ("command", "string"),
        ],
        &[],
    );
    d.map(
        "container-registry-credentials",
        &[("username", "non-empty-string"), ("password", "non-empty-string")],
        CREDENTIALS,
    );
    d.loose("container-env", "non-empty-string", "string-runner-context", &[]);
}
