//! `solstice serve` as an operator runs it, against the fake Forgejo: it registers with a token,
//! runs a job through its own orchestrator (local executor, or QEMU for the VM test) with no
//! RabbitMQ or PostgreSQL in its environment, shows the steps and log on the job's page, reuses
//! its registration when started again, and ends with exit 0 on SIGTERM.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use fake_forgejo::{FakeForgejo, JobSpec, Scope, Status};
use testkit::vm::AgentDir;
use tokio::process::{Child, Command};

const LABEL: &str = "linux-test";
const WAIT: Duration = Duration::from_secs(90);

/// A state dir and a config file for one `solstice serve`.
struct Host {
    dir: tempfile::TempDir,
    agents: AgentDir,
}

impl Host {
    fn new(config: &str) -> Host {
        let dir = testkit::vm::state_dir();
        std::fs::write(dir.path().join("solstice.toml"), config).unwrap();
        Host { dir, agents: AgentDir::locate(orchestrator::HOST_TARGET) }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `solstice serve --config solstice.toml` with no `SOLSTICE_*` of the caller's (no broker,
    /// no database URL), the host's state dir and agent dir, and `env`.
    fn command(&self, command: std::process::Command, env: &[(&str, &str)]) -> Command {
        let mut command = Command::from(command);
        command.args(["serve", "--config", "solstice.toml"]).current_dir(self.dir.path()).kill_on_drop(true);
        for (name, _) in std::env::vars_os().filter(|(n, _)| n.to_string_lossy().starts_with("SOLSTICE_")) {
            command.env_remove(name);
        }
        command.env("SOLSTICE_STATE_DIR", self.state()).env("SOLSTICE_AGENT_DIR", &self.agents.path);
        command.envs(env.iter().copied()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        command
    }

    fn spawn(&self, env: &[(&str, &str)]) -> Child {
        self.command(std::process::Command::new(env!("CARGO_BIN_EXE_solstice")), env).spawn().unwrap()
    }

    /// Runs `solstice serve` to its end (for configurations it refuses).
    async fn refused(&self, env: &[(&str, &str)]) -> Output {
        let output = self.command(std::process::Command::new(env!("CARGO_BIN_EXE_solstice")), env).output();
        tokio::time::timeout(WAIT, output).await.expect("serve ends by itself").unwrap()
    }
}

/// Sends SIGTERM and returns the exit code and what the process wrote on stderr.
async fn terminate(child: Child) -> (Option<i32>, String) {
    let pid = i32::try_from(child.id().expect("serve still runs")).unwrap();
    // SAFETY: kill(2) on a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let output = tokio::time::timeout(WAIT, child.wait_with_output()).await.expect("serve stops").unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The job's page once it finished; if it does not within [`WAIT`], fails with what `serve`
/// wrote on stderr.
async fn finished(fake: &FakeForgejo, job: fake_forgejo::JobHandle, serve: Child) -> (fake_forgejo::JobView, Child) {
    match fake.wait_until_finished(job, WAIT).await {
        Ok(view) => (view, serve),
        Err(error) => {
            let (code, stderr) = terminate(serve).await;
            panic!("the job did not end ({error:?}); serve exited {code:?}:\n{stderr}\n{:#?}", fake.view(job));
        }
    }
}

fn spec(payload: &str, steps: &[&str]) -> JobSpec {
    JobSpec::new("build", payload, &[LABEL], steps)
}

#[tokio::test]
async fn serve_registers_runs_a_forgejo_job_locally_and_exits_0_on_sigterm() {
    let fake = FakeForgejo::start().await.unwrap();
    let config = format!("[[forgejo]]\nurl = \"{}\"\nfetch_interval_secs = 0.05\n", fake.url());
    let host = Host::new(&config);
    let token = fake.registration_token(Scope::Global);
    let metrics = free_address();
    let env = [
        ("SOLSTICE_FORGEJO_URL", fake.url()),
        ("SOLSTICE_FORGEJO_TOKEN", token.as_str()),
        ("SOLSTICE_LABELS", "linux-test,self-hosted"),
        ("SOLSTICE_RUNNER_NAME", "serve-it"),
        ("SOLSTICE_EXECUTOR", "local"),
        ("SOLSTICE_METRICS_ADDR", metrics.as_str()),
    ];
    let serve = host.spawn(&env);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: hello\n        run: echo hello from serve\n      - name: bye\n        run: echo bye\n";
    let job = fake.add_job(spec(payload, &["hello", "bye"]));
    let (view, serve) = finished(&fake, job, serve).await;
    assert_eq!(view.status, Status::Success, "{view:#?}");
    let hello = view.step("hello").expect("the hello step");
    assert_eq!(hello.status, Status::Success);
    assert!(hello.rows.iter().any(|row| row.contains("hello from serve")), "{hello:#?}");
    assert_eq!(view.step("bye").map(|step| step.status), Some(Status::Success));
    let runners = fake.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].name, "serve-it");
    assert_eq!(runners[0].labels, ["linux-test", "self-hosted"]);
    let health = http_get(&metrics, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let counted = http_get(&metrics, "/metrics").await;
    assert!(counted.contains("solstice_jobs_total{result=\"success\"} 1\n"), "{counted}");
    let (code, stderr) = terminate(serve).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("no isolation"), "the local executor says it does not isolate: {stderr}");
    assert!(runner_files(&host.state()).len() == 1, "one .runner under the state dir");
    assert!(host.state().join("solstice.db").is_file(), "the state is in SQLite under the state dir");

    // Started again without the token: the registration is reused, and a second job runs.
    let again =
        [("SOLSTICE_FORGEJO_URL", fake.url()), ("SOLSTICE_RUNNER_NAME", "serve-it"), ("SOLSTICE_EXECUTOR", "local")];
    let serve = host.spawn(&again);
    let job = fake.add_job(spec(payload, &["hello", "bye"]));
    let (view, serve) = finished(&fake, job, serve).await;
    assert_eq!(view.status, Status::Success, "{view:#?}");
    assert_eq!(fake.runners().len(), 1, "no second registration");
    let (code, stderr) = terminate(serve).await;
    assert_eq!(code, Some(0), "{stderr}");
}

/// One process, both forges: a Forgejo job and a GitHub job run at the same time through the
/// one orchestrator, each reported to its own forge, with no RabbitMQ or PostgreSQL anywhere.
#[tokio::test]
async fn serve_runs_a_forgejo_job_and_a_github_job_at_the_same_time() {
    let forgejo = FakeForgejo::start().await.unwrap();
    let github_config = fake_github::Config { long_poll: Duration::from_secs(5), ..fake_github::Config::default() };
    let github = fake_github::FakeGithub::start(github_config).await.unwrap();
    let config = format!(
        "executor = \"local\"\ncapacity = 2\n\
         [[forgejo]]\nurl = \"{}\"\ntoken = \"{}\"\nlabels = [\"{LABEL}\"]\nfetch_interval_secs = 0.05\n\
         [[github]]\nurl = \"{}\"\ntoken = \"{}\"\nlabels = [\"{LABEL}\"]\ncapacity = 1\n",
        forgejo.url(),
        forgejo.registration_token(Scope::Global),
        github.repo_url("octo", "hello"),
        github.registration_token(),
    );
    let host = Host::new(&config);
    let serve = host.spawn(&[]);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: hello\n        run: echo from forgejo; sleep 3\n";
    let forgejo_job = forgejo.add_job(spec(payload, &["hello"]));
    let github_job =
        github.queue(fake_github::JobSpec::new("build", &[LABEL], &[("hello", "echo from github; sleep 3")]));

    // Both run at once: the GitHub job is taken, and while it has not completed the Forgejo
    // job's step prints (each step sleeps 3 s after its line).
    let github_acquired = github
        .wait_for(WAIT, |fake| {
            matches!(fake.job_phase(&github_job), Some(fake_github::JobPhase::Acquired { .. })).then_some(())
        })
        .await;
    assert!(github_acquired.is_some(), "the GitHub job is taken: {:?}", github.job_phase(&github_job));
    let printed = forgejo
        .wait_for(WAIT, |s| s.rows(forgejo_job).iter().any(|row| row.content == "from forgejo").then_some(()))
        .await;
    assert!(printed.is_ok(), "the Forgejo job runs: {:#?}", forgejo.rows(forgejo_job));
    assert!(github.completion(&github_job).is_none(), "the GitHub job still ran when the Forgejo job printed");
    let (view, serve) = finished(&forgejo, forgejo_job, serve).await;
    assert_eq!(view.status, Status::Success, "{view:#?}");
    assert!(view.step("hello").is_some_and(|step| step.rows.iter().any(|row| row == "from forgejo")), "{view:#?}");
    let completed = github.wait_for(WAIT, |fake| fake.completion(&github_job)).await;
    let completion = completed.unwrap_or_else(|| panic!("the GitHub job completes: {:#?}", github.view(&github_job)));
    assert_eq!(completion["conclusion"], "succeeded", "{completion:#}");
    // The step logs on GitHub's side are the github daemon's report, checked by its own suite.
    assert_eq!(github.runners().len(), 1, "one GitHub runner registered");
    let (code, stderr) = terminate(serve).await;
    assert_eq!(code, Some(0), "{stderr}");
}

/// SIGTERM while a job runs: no new job is fetched, the running one finishes and its end is
/// reported, then the process exits 0.
#[tokio::test]
async fn sigterm_lets_the_running_job_finish_and_fetches_no_more() {
    let fake = FakeForgejo::start().await.unwrap();
    let token = fake.registration_token(Scope::Global);
    let config = format!(
        "executor = \"local\"\n[[forgejo]]\nurl = \"{}\"\ntoken = \"{token}\"\nlabels = [\"{LABEL}\"]\nfetch_interval_secs = 0.05\n",
        fake.url()
    );
    let host = Host::new(&config);
    let serve = host.spawn(&[]);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: slow\n        run: echo begun; sleep 2; echo done after sigterm\n";
    let job = fake.add_job(spec(payload, &["slow"]));
    let begun = fake.wait_for(WAIT, |s| s.rows(job).iter().any(|row| row.content == "begun").then_some(())).await;
    assert!(begun.is_ok(), "the step began: {:#?}", fake.rows(job));
    let pid = i32::try_from(serve.id().unwrap()).unwrap();
    // SAFETY: kill(2) on a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let later = fake.add_job(spec(payload, &["slow"]));
    let output = tokio::time::timeout(WAIT, serve.wait_with_output()).await.expect("serve stops").unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let view = fake.view(job).expect("the job");
    assert_eq!(view.status, Status::Success, "{view:#?}");
    assert!(fake.rows(job).iter().any(|row| row.content == "done after sigterm"));
    assert_eq!(fake.view(later).map(|view| view.status), Some(Status::Waiting), "nothing fetched after SIGTERM");
}

/// A `solstice serve` killed mid-job: the next start fails the job in the forge with a row that
/// says why (its agent died with the process), instead of leaving it running or running it again.
/// The step is short: the local executor's agent dies with the process, but a step's own
/// processes outlive a SIGKILL until they end by themselves.
#[tokio::test]
async fn a_job_cut_by_a_killed_serve_is_failed_with_a_row_saying_why_at_the_next_start() {
    let fake = FakeForgejo::start().await.unwrap();
    let token = fake.registration_token(Scope::Global);
    let config = format!(
        "executor = \"local\"\n[[forgejo]]\nurl = \"{}\"\ntoken = \"{token}\"\nlabels = [\"{LABEL}\"]\nfetch_interval_secs = 0.05\n",
        fake.url()
    );
    let host = Host::new(&config);
    let mut first = host.spawn(&[]);
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: long\n        run: echo started; sleep 10\n";
    let job = fake.add_job(spec(payload, &["long"]));
    let started = fake.wait_for(WAIT, |s| s.rows(job).iter().any(|row| row.content == "started").then_some(())).await;
    assert!(started.is_ok(), "the step started: {:#?}", fake.rows(job));
    let pid = i32::try_from(first.id().unwrap()).unwrap();
    // SAFETY: kill(2) on a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = first.wait().await;

    let second = host.spawn(&[]);
    let (view, second) = finished(&fake, job, second).await;
    assert_eq!(view.status, Status::Failure, "{view:#?}");
    let rows = fake.rows(job);
    assert!(rows.iter().any(|row| row.content.contains("the orchestrator restarted")), "{rows:#?}");
    assert_eq!(fake.runners().len(), 1, "the registration is reused");
    let (code, stderr) = terminate(second).await;
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_what_it_cannot_run_with_exit_2() {
    let fake = FakeForgejo::start().await.unwrap();
    let check = |config: String, env: Vec<(&'static str, String)>, expected: &'static str| async move {
        let host = Host::new(&config);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = host.refused(&env).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr} should say {expected:?}");
    };
    check(String::new(), vec![], "nothing to serve").await;
    check("[[forgejo]]\nurl = \"http://127.0.0.1:1\"\nlabelz = []\n".into(), vec![], "unknown field").await;
    let github = "[[github]]\nurl = \"https://github.com/acme\"\nlabels = [\"linux-test\"]\n".to_owned();
    check(github, vec![], "no token to register with").await;
    let forgejo = format!("[[forgejo]]\nurl = \"{}\"\n", fake.url());
    check(forgejo.clone(), vec![("SOLSTICE_DATABASE_URL", "postgres://db/x".into())], "sqlite://").await;
    check(forgejo, vec![("SOLSTICE_EXECUTOR", "local".into())], "no token to register with").await;
    assert!(fake.runners().is_empty());
}

/// The job runs in a VM booted from `linux-test` under TCG; the guest's hostname (the job's id)
/// shows in the job's log. `solstice serve` runs in a network namespace of the test (no packet
/// leaves this machine; `guest_network = "none"` besides) and reaches the fake Forgejo through a
/// proxy bound on that namespace's loopback.
#[tokio::test]
async fn serve_runs_a_forgejo_job_in_a_vm_and_the_log_shows_the_guest_hostname() {
    if testkit::vm::unavailable().is_some() {
        return;
    }
    let fake = FakeForgejo::start().await.unwrap();
    let netns = testkit::netns::TestNetns::create("");
    let forge: SocketAddr = fake.url().trim_start_matches("http://").parse().unwrap();
    let proxy = testkit::proxy::Proxy::serve(netns.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))), forge);
    let url = format!("http://{}", proxy.addr);
    let config = format!(
        "guest_network = \"none\"\n[[forgejo]]\nurl = \"{url}\"\nlabels = [\"{LABEL}\"]\nfetch_interval_secs = 0.1\n"
    );
    let host = Host::new(&config);
    std::fs::create_dir_all(host.state().join("images")).unwrap();
    std::os::unix::fs::symlink(testkit::vm::image(), host.state().join("images").join(LABEL)).unwrap();
    std::fs::set_permissions(host.state(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    let token = fake.registration_token(Scope::Global);
    let env = [("SOLSTICE_FORGEJO_TOKEN", token.as_str()), ("SOLSTICE_ACCEL", "tcg"), ("SOLSTICE_EXECUTOR", "qemu")];
    let binary = netns.command(env!("CARGO_BIN_EXE_solstice"));
    let serve = host.command(binary, &env).env("SOLSTICE_FORGEJO_URL", &url).spawn().unwrap();
    let payload = "jobs:\n  build:\n    runs-on: linux-test\n    steps:\n      - name: where\n        run: echo \"guest hostname is $(hostname)\"\n";
    let job = fake.add_job(spec(payload, &["where"]));
    let view = fake.wait_until_finished(job, Duration::from_secs(300)).await;
    let (code, stderr) = terminate(serve).await;
    let view = view.unwrap_or_else(|error| panic!("the job ends: {error:?}\n{stderr}"));
    assert_eq!(view.status, Status::Success, "{view:#?}\n{stderr}");
    let rows = fake.rows(job);
    let job_id = rows
        .iter()
        .find_map(|row| row.content.split("solstice: job ").nth(1).and_then(|rest| rest.split(' ').next()))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a setup row naming the job id: {rows:#?}"));
    let step = view.step("where").expect("the step");
    let expected = format!("guest hostname is {job_id}");
    assert!(step.rows.iter().any(|row| row.contains(&expected)), "{expected:?} in {step:#?}");
    assert_eq!(code, Some(0), "{stderr}");
}

/// A loopback address with a port that was free a moment ago.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The whole answer to `GET path` on `addr`, status line included.
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// Every `.runner` file below `dir`.
fn runner_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|name| name == ".runner") {
                found.push(path);
            }
        }
    }
    found
}
