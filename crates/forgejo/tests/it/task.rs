//! Task translation: a Forgejo task in, a JobRequest out — or the sentence the user reads in
//! the task's log when it cannot run. Payloads are shaped like the server's `act/jobparser`
//! output (protocol notes §5).

use std::collections::BTreeMap;

use contract::{BusKey, ForgeKind, JobRequest, StepKind, Template};
use forgejo::report::TaskResult;
use forgejo::task::{NeedInput, TaskError, TaskInput, TranslateSettings, Translated, translate};
use serde_json::{Value as Json, json};

const TASK_TOKEN: &str = "3f1c0ffee0ddba11";
const DEPLOY_KEY: &str = "-----BEGIN KEY-----\nline-one-of-the-key\nline-two-of-the-key\n-----END KEY-----";

/// A matrix job after the server's expansion: computed name, evaluated runs-on, the matrix
/// reduced to one combination with `fail-fast`/`max-parallel` as strings, `needs` erased, and
/// keys the server adds for itself.
const MATRIX_JOB: &str = r#"name: CI
"on":
  push:
    branches: [main]
  pull_request:
env:
  GOFLAGS: -mod=mod
defaults:
  run:
    working-directory: src
jobs:
  build:
    name: build (ubuntu-22.04, 1.19)
    runs-on:
      - self-hosted
      - omnios-r151054
    if: ${{ !cancelled() }}
    env:
      GO: ${{ matrix.v }}
    defaults:
      run:
        shell: bash
    timeout-minutes: "30"
    concurrency:
      group: build-${{ github.ref }}
      cancel-in-progress: "true"
    outputs:
      digest: ${{ steps.build.outputs.digest }}
    strategy:
      fail-fast: "true"
      max-parallel: "4"
      matrix:
        os:
          - ubuntu-22.04
        v:
          - "1.19"
    steps:
      - uses: https://data.forgejo.org/actions/checkout@v4
        with:
          fetch-depth: "0"
      - id: build
        name: Build ${{ matrix.v }}
        if: github.event_name == 'pull_request'
        run: go build ./... && echo "digest=abc" >> "$GITHUB_OUTPUT"
        continue-on-error: true
        timeout-minutes: "10"
        env:
          CGO_ENABLED: "0"
      - name: Show version
        run: echo "${{ needs.prepare.outputs.version }}"
__metadata:
  namespace: 93e6933d
enable-openid-connect: false
incomplete_matrix: false
"#;

fn key() -> BusKey {
    BusKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("test key is valid")
}

fn settings(key: &BusKey) -> TranslateSettings<'_> {
    TranslateSettings {
        runner_id: "runner-7".into(),
        instance_url: "http://127.0.0.1:3000/".into(),
        catalog_labels: vec!["omnios-r151054".into(), "linux-test".into()],
        generic_labels: vec!["self-hosted".into(), "solstice".into()],
        bus_key: key,
    }
}

/// `task.context` as Forgejo's server fills it for a pull request, extras included.
fn context(event_name: &str, event: Json) -> serde_json::Map<String, Json> {
    let value = json!({
        "event": event,
        "event_name": event_name,
        "event_path": "",
        "workflow": "ci.yml",
        "workflow_ref": "owner/repo/.forgejo/workflows/ci.yml@refs/pull/5/head",
        "run_id": "17",
        "run_number": "4",
        "run_attempt": "2",
        "job": "build",
        "actor": "alice",
        "repository": "owner/repo",
        "repository_owner": "owner",
        "repositoryUrl": "http://127.0.0.1:3000/owner/repo.git",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/pull/5/head",
        "ref_name": "5/head",
        "ref_type": "",
        "ref_protected": false,
        "server_url": "http://127.0.0.1:3000/",
        "api_url": "http://127.0.0.1:3000/api/v1",
        "retention_days": "90",
        "secret_source": "Actions",
        "job_name": "build (ubuntu-22.04, 1.19)",
        "runner_os": "",
        "token": TASK_TOKEN,
        "gitea_runtime_token": "eyJhbGciOi.runtime",
        "gitea_default_actions_url": "https://data.forgejo.org",
        "forgejo_server_version": "13.0.0",
    });
    match value {
        Json::Object(map) => map,
        _ => unreachable!("a json! object literal"),
    }
}

fn task(payload: &str) -> TaskInput {
    let event = json!({"pull_request": {"number": 5, "title": "fix ${{ secrets.DEPLOY_KEY }} leak"}});
    TaskInput {
        id: 42,
        workflow_payload: payload.as_bytes().to_vec(),
        context: context("pull_request", event),
        secrets: BTreeMap::from([
            ("DEPLOY_KEY".to_owned(), DEPLOY_KEY.to_owned()),
            ("GITHUB_TOKEN".to_owned(), TASK_TOKEN.to_owned()),
            ("GITEA_TOKEN".to_owned(), TASK_TOKEN.to_owned()),
            ("FORGEJO_TOKEN".to_owned(), TASK_TOKEN.to_owned()),
        ]),
        vars: BTreeMap::from([("REGISTRY".to_owned(), "registry.example".to_owned())]),
        needs: BTreeMap::from([(
            "prepare".to_owned(),
            NeedInput {
                outputs: BTreeMap::from([("version".to_owned(), "1.2".to_owned())]),
                result: TaskResult::Success,
            },
        )]),
    }
}

fn translated(input: &TaskInput) -> Translated {
    let key = key();
    match translate(input, &settings(&key)) {
        Ok(t) => t,
        Err(e) => panic!("expected the task to translate, got: {e}"),
    }
}

fn open(request: &JobRequest, name: &str) -> String {
    let sealed = request.secrets.get(name).unwrap_or_else(|| panic!("secret {name} is sealed"));
    key().open(request.job_id, sealed).expect("opens under its own job id").expose().to_owned()
}

fn lit(value: Json) -> Option<Template> {
    Some(Template::Literal(value))
}

fn expr(source: &str) -> Option<Template> {
    Some(Template::Expr(source.to_owned()))
}

#[test]
fn matrix_job_becomes_one_request_with_the_forge_decisions() {
    let Translated { request, step_count, .. } = translated(&task(MATRIX_JOB));
    assert_eq!(request.name, "build (ubuntu-22.04, 1.19)");
    assert_eq!(request.job_key, "build");
    assert_eq!(request.workflow_name, "CI");
    assert_eq!(request.route_label, "omnios-r151054");
    assert_eq!(request.runs_on, ["self-hosted", "omnios-r151054"]);
    assert_eq!(request.origin.forge, ForgeKind::Forgejo);
    assert_eq!(request.origin.runner_id, "runner-7");
    assert_eq!(request.origin.forge_ref, json!(42));
    assert_eq!(request.attempt, 2);
    assert_eq!(request.contexts.matrix, json!({"os": "ubuntu-22.04", "v": "1.19"}));
    assert_eq!(
        request.contexts.strategy,
        json!({"fail-fast": true, "job-index": 0, "job-total": 1, "max-parallel": 4})
    );
    assert_eq!(request.contexts.needs, json!({"prepare": {"result": "success", "outputs": {"version": "1.2"}}}));
    assert_eq!(request.contexts.vars, json!({"REGISTRY": "registry.example"}));
    assert_eq!(request.contexts.inputs, json!({}));

    // Job level: templates for the step engine, nothing evaluated here.
    assert_eq!(request.if_, expr("!cancelled()"));
    assert_eq!(request.env.workflow.get("GOFLAGS").cloned(), lit(json!("-mod=mod")));
    assert_eq!(request.env.job.get("GO").cloned(), expr("matrix.v"));
    assert_eq!(request.defaults.shell.as_deref(), Some("bash"));
    assert_eq!(request.defaults.working_directory, lit(json!("src")));
    assert_eq!(request.timeout_minutes, lit(json!(30)));
    assert_eq!(request.outputs.get("digest").cloned(), expr("steps.build.outputs.digest"));

    // Steps: StepState ids are the payload's step indexes.
    assert_eq!(step_count, 3);
    assert_eq!(request.steps.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2]);
    let checkout = &request.steps[0];
    assert_eq!(checkout.kind, StepKind::Checkout);
    assert_eq!(checkout.uses.as_deref(), Some("https://data.forgejo.org/actions/checkout@v4"));
    assert_eq!(checkout.with.get("fetch-depth").cloned(), lit(json!("0")));
    let build = &request.steps[1];
    assert_eq!(build.id, "build");
    assert_eq!(build.name, expr("format('Build {0}', matrix.v)"));
    assert_eq!(build.if_, expr("success() && (github.event_name == 'pull_request')"));
    assert_eq!(build.continue_on_error, lit(json!(true)));
    assert_eq!(build.timeout_minutes, lit(json!(10)));
    assert_eq!(build.env.get("CGO_ENABLED").cloned(), lit(json!("0")));
    assert_eq!(request.steps[2].run, expr("format('echo \"{0}\"', needs.prepare.outputs.version)"));
}

#[test]
fn github_context_keeps_githubs_keys_and_drops_the_forges_credentials() {
    let Translated { request, .. } = translated(&task(MATRIX_JOB));
    let github = request.contexts.github.as_object().expect("github is an object");
    for dropped in ["token", "gitea_runtime_token", "gitea_default_actions_url", "forgejo_server_version", "job_name"] {
        assert!(!github.contains_key(dropped), "github.{dropped} must not travel");
    }
    for kept in ["repository", "sha", "ref", "run_id", "run_attempt", "server_url", "workflow_ref", "ref_protected"] {
        assert!(github.contains_key(kept), "github.{kept} is part of GitHub's context");
    }
    // Event data is data: a `${{` in the pull request's title is never an expression.
    assert_eq!(
        request.contexts.github.pointer("/event/pull_request/title"),
        Some(&json!("fix ${{ secrets.DEPLOY_KEY }} leak"))
    );

    // A server that sends the event as JSON text still gives steps an object.
    let mut input = task(MATRIX_JOB);
    input.context.insert("event".into(), json!("{\"ref\": \"refs/heads/main\"}"));
    let Translated { request, .. } = translated(&input);
    assert_eq!(request.contexts.github.get("event"), Some(&json!({"ref": "refs/heads/main"})));
}

#[test]
fn secrets_are_sealed_for_this_job_only_and_never_travel_in_clear() {
    let mut input = task(MATRIX_JOB);
    input.secrets.remove("GITEA_TOKEN");
    input.secrets.remove("FORGEJO_TOKEN");
    let Translated { request, masks, .. } = translated(&input);
    let names: Vec<&str> = request.secrets.keys().map(String::as_str).collect();
    assert_eq!(names, ["DEPLOY_KEY", "FORGEJO_TOKEN", "GITEA_TOKEN", "GITHUB_TOKEN"]);
    for name in ["GITHUB_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN"] {
        assert_eq!(open(&request, name), TASK_TOKEN, "{name} is the task token");
    }
    assert_eq!(open(&request, "DEPLOY_KEY"), DEPLOY_KEY);
    let other_job = ulid::Ulid::new();
    assert!(key().open(other_job, &request.secrets["DEPLOY_KEY"]).is_err(), "the job id is the AAD");

    let workspace = &request.workspace;
    assert_eq!(workspace.repository_url, "http://127.0.0.1:3000/owner/repo.git");
    assert_eq!(workspace.repository, "owner/repo");
    assert_eq!(workspace.sha, "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(workspace.git_ref, "refs/pull/5/head");
    let token = workspace.token.as_ref().expect("the checkout token is sealed");
    assert_eq!(key().open(request.job_id, token).expect("opens").expose(), TASK_TOKEN);

    let on_the_bus = serde_json::to_string(&request).expect("serializes");
    for secret in [TASK_TOKEN, "line-one-of-the-key", "eyJhbGciOi.runtime"] {
        assert!(!on_the_bus.contains(secret), "{secret} is in the JobRequest in clear");
    }

    let masks: Vec<&str> = masks.iter().map(|m| m.expose()).collect();
    for expected in [TASK_TOKEN, DEPLOY_KEY, "line-one-of-the-key", "eyJhbGciOi.runtime"] {
        assert!(masks.contains(&expected), "{expected} is masked in the runner's own rows");
    }
    assert!(!masks.iter().any(|m| m.is_empty()));
}

/// Table: a need's result → what `needs.<job>.result` reads; the job's `if` stays the default
/// `success()` (None), which the step engine decides from these results.
#[test]
fn needs_are_rebuilt_from_the_task() {
    let payload =
        "on: push\njobs:\n  deploy:\n    name: deploy\n    runs-on: linux-test\n    steps:\n      - run: ./deploy\n";
    let cases = [
        (TaskResult::Success, "success"),
        (TaskResult::Failure, "failure"),
        (TaskResult::Cancelled, "cancelled"),
        (TaskResult::Skipped, "skipped"),
        (TaskResult::Unspecified, "unspecified"),
    ];
    for (result, expected) in cases {
        let mut input = task(payload);
        input.needs = BTreeMap::from([
            ("build".to_owned(), NeedInput { outputs: BTreeMap::new(), result }),
            ("lint".to_owned(), NeedInput { outputs: BTreeMap::new(), result: TaskResult::Success }),
        ]);
        let Translated { request, .. } = translated(&input);
        assert_eq!(request.if_, None, "a job without `if` runs on success() of its needs");
        assert_eq!(
            request.contexts.needs,
            json!({"build": {"result": expected, "outputs": {}}, "lint": {"result": "success", "outputs": {}}}),
            "{result:?}"
        );
    }
}

/// Table: the event and the payload's `on` → the `inputs` context.
#[test]
fn inputs_follow_the_event() {
    let dispatch = "\"on\":\n  workflow_dispatch:\n    inputs:\n      level:\n        type: number\n        default: 1\n      debug:\n        type: boolean\n      target:\n        default: staging\njobs:\n  j:\n    name: j\n    runs-on: linux-test\n    steps:\n      - run: echo ${{ inputs.level }}\n";
    let call = "\"on\":\n  workflow_call:\n    inputs:\n      example-boolean:\n        default: true\n        type: boolean\n      example-number:\n        default: 123\n        type: number\n      example-string:\n        default: null\n        type: string\njobs:\n  reusable-1.job1:\n    name: job1\n    runs-on: linux-test\n    steps:\n      - run: echo ${{ inputs.example-string }}\n";
    let cases = [
        (
            dispatch,
            "workflow_dispatch",
            json!({"inputs": {"level": "3", "debug": "true", "stray": "x"}}),
            json!({"level": 3, "debug": true, "target": "staging"}),
        ),
        (dispatch, "workflow_dispatch", json!({}), json!({"level": 1, "debug": false, "target": "staging"})),
        (
            call,
            "workflow_call",
            json!({}),
            json!({"example-boolean": true, "example-number": 123, "example-string": ""}),
        ),
        (dispatch, "push", json!({"inputs": {"level": "3"}}), json!({})),
    ];
    for (payload, event_name, event, expected) in cases {
        let mut input = task(payload);
        input.context = context(event_name, event);
        let Translated { request, .. } = translated(&input);
        assert_eq!(request.contexts.inputs, expected, "{event_name}");
        if event_name == "workflow_call" {
            assert_eq!(request.job_key, "reusable-1.job1");
            assert_eq!(request.name, "job1");
        }
    }
}

/// Table: runs-on as the server evaluated it → the route label or the sentence the user reads.
#[test]
fn routing_by_the_one_catalog_label() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("[self-hosted, linux-test]", Ok("linux-test")),
        ("[Self-Hosted, solstice, omnios-r151054]", Ok("omnios-r151054")),
        ("linux-test", Ok("linux-test")),
        ("[linux-test, linux-test]", Ok("linux-test")),
        (
            "ubuntu-latest",
            Err("runs-on [ubuntu-latest] names no label this runner serves (it serves: omnios-r151054, linux-test)"),
        ),
        (
            "[self-hosted]",
            Err("runs-on [self-hosted] names no label this runner serves (it serves: omnios-r151054, linux-test)"),
        ),
        ("[]", Err("runs-on [] names no label this runner serves (it serves: omnios-r151054, linux-test)")),
        (
            "[linux-test, omnios-r151054]",
            Err(
                "runs-on [linux-test, omnios-r151054] names 2 labels this runner serves (linux-test, omnios-r151054); a job runs on exactly one",
            ),
        ),
        (
            "[linux-test, gpu]",
            Err(
                "runs-on [linux-test, gpu] names 'gpu', neither a label this runner serves nor a generic label (it serves: omnios-r151054, linux-test)",
            ),
        ),
        ("{group: big}", Err("runs-on must be a label or a list of labels, found {\"group\":\"big\"}")),
    ];
    for (runs_on, expected) in cases {
        let payload =
            format!("on: push\njobs:\n  j:\n    name: j\n    runs-on: {runs_on}\n    steps:\n      - run: make\n");
        let key = key();
        let got = translate(&task(&payload), &settings(&key)).map(|t| t.request.route_label).map_err(|e| e.to_string());
        assert_eq!(got.as_ref().map(String::as_str).map_err(String::as_str), *expected, "runs-on: {runs_on}");
    }
}

/// Table: bad payloads → the exact sentence the task fails with.
#[test]
fn bad_payloads_fail_the_task_with_a_reason() {
    let two_jobs = "on: push\njobs:\n  a:\n    runs-on: linux-test\n    steps: [{run: x}]\n  b:\n    runs-on: linux-test\n    steps: [{run: x}]\n";
    let job = |body: &str| format!("on: push\njobs:\n  j:\n    name: j\n    runs-on: linux-test\n{body}");
    let cases: Vec<(Vec<u8>, String)> = vec![
        (two_jobs.into(), "the workflow payload holds 2 jobs (a, b); a task must carry exactly one".into()),
        (b"on: push\njobs: {}\n".to_vec(), "the workflow payload holds 0 jobs; a task must carry exactly one".into()),
        (Vec::new(), "the job cannot run: ci.yml: the workflow file is empty".into()),
        (b"jobs: [\n  {".to_vec(), "the job cannot run: ci.yml: invalid YAML: while parsing a node, did not find expected node content".into()),
        (vec![b'o', b'n', 0xff, 0xfe], "the workflow payload is not UTF-8 text".into()),
        (
            job("    steps:\n      - uses: https://code.forgejo.org/actions/checkout@v4\n      - name: Set up Go\n        uses: actions/setup-go@v5\n        with:\n          go-version: \"1.22\"\n").into(),
            "the job cannot run: ci.yml: job 'j': step 'Set up Go' uses 'actions/setup-go@v5': only actions/checkout is supported; see docs/faq.md".into(),
        ),
        (
            job("    steps:\n      - uses: https://data.forgejo.org/actions/cache@v4\n").into(),
            "the job cannot run: ci.yml: job 'j': step 1 uses 'https://data.forgejo.org/actions/cache@v4': only actions/checkout is supported; see docs/faq.md".into(),
        ),
        (
            job("    container:\n      image: node:20\n    steps: [{run: x}]\n").into(),
            "the job cannot run: ci.yml: job 'j': job-level 'container:' is not supported: every job runs in a VM of its 'runs-on' image; see docs/faq.md".into(),
        ),
        (
            job("    services:\n      db:\n        image: postgres:16\n    steps: [{run: x}]\n").into(),
            "the job cannot run: ci.yml: job 'j': 'services:' are not supported; see docs/faq.md".into(),
        ),
        (
            "on: push\njobs:\n  call:\n    name: call\n    runs-on: []\n    uses: ./.forgejo/workflows/reusable.yml\n".into(),
            "the job cannot run: ci.yml: job 'call': reusable workflow jobs are not supported ('uses: ./.forgejo/workflows/reusable.yml'); see docs/faq.md".into(),
        ),
        (
            job("    strategy:\n      matrix:\n        v: [\"1\", \"2\"]\n    steps: [{run: x}]\n").into(),
            "the job's matrix yields 2 combinations; a task must carry exactly one".into(),
        ),
        (
            job("    steps:\n      - run: echo ${{ github.sha\n").into(),
            "the job cannot run: ci.yml: job 'j': The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.".into(),
        ),
    ];
    let key = key();
    for (payload, expected) in cases {
        let mut input = task("");
        input.workflow_payload = payload.clone();
        match translate(&input, &settings(&key)) {
            Ok(t) => panic!("expected {expected:?}, got a request for {}", t.request.name),
            Err(e) => assert_eq!(e.to_string(), expected, "payload:\n{}", String::from_utf8_lossy(&payload)),
        }
    }
}

/// A task whose job needs nothing still gets an empty `needs` object, not null, and errors are
/// typed so the runner can tell them apart.
#[test]
fn error_kinds_are_distinguishable() {
    let key = key();
    let err = translate(
        &task("on: push\njobs: {a: {runs-on: x, steps: [{run: a}]}, b: {runs-on: x, steps: [{run: b}]}}\n"),
        &settings(&key),
    );
    assert!(matches!(err, Err(TaskError::NotOneJob { count: 2, .. })));
    let mut input = task("on: push\njobs:\n  j:\n    runs-on: linux-test\n    steps: [{run: x}]\n");
    input.needs.clear();
    let Translated { request, .. } = translated(&input);
    assert_eq!(request.contexts.needs, json!({}));
    assert_eq!(request.name, "j");
}

/// A small deterministic generator (xorshift64*), so a failure reproduces from its seed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Garbage in — random bytes, cut and mangled payloads — gives an error or a request, never a
/// panic, and every error has text for the user.
#[test]
fn garbage_never_panics() {
    let key = key();
    let settings = settings(&key);
    let pieces: &[&str] = &[
        "jobs:\n",
        "  j:\n",
        "    runs-on: linux-test\n",
        "    steps:\n",
        "      - run: x\n",
        "${{",
        "}}",
        "&a [*a, *a]\n",
        "strategy: {matrix: {x: [1]}}\n",
        "- ",
        ": ",
        "\"",
        "'",
        "\t",
        "\n",
    ];
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for round in 0..2000 {
        let mut bytes = MATRIX_JOB.as_bytes().to_vec();
        match round % 4 {
            0 => bytes = (0..noise.below(200)).map(|_| noise.next() as u8).collect(),
            1 => bytes.truncate(noise.below(bytes.len())),
            2 => {
                for _ in 0..1 + noise.below(8) {
                    let at = noise.below(bytes.len());
                    bytes[at] = noise.next() as u8;
                }
            }
            _ => {
                for _ in 0..1 + noise.below(6) {
                    let at = noise.below(bytes.len());
                    let piece = pieces[noise.below(pieces.len())];
                    bytes.splice(at..at, piece.bytes());
                }
            }
        }
        let mut input = task("");
        input.workflow_payload = bytes;
        if let Err(e) = translate(&input, &settings) {
            assert!(!e.to_string().is_empty(), "round {round}: an error without text");
        }
    }
}

/// Tracing a task or its translation never prints a credential.
#[test]
fn debug_output_shows_no_secret() {
    let input = task(MATRIX_JOB);
    let translated = translated(&input);
    for text in [format!("{input:?}"), format!("{translated:?}")] {
        for secret in [TASK_TOKEN, "line-one-of-the-key", "eyJhbGciOi.runtime"] {
            assert!(!text.contains(secret), "{secret} shows in {text}");
        }
    }
    assert!(format!("{input:?}").contains("DEPLOY_KEY"), "secrets are named");
}
