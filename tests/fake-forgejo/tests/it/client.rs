//! A bare Connect client over reqwest, so that the tests see the fake exactly as a runner does.

use fake_forgejo::proto::runner::v1 as wire;
use fake_forgejo::{FakeForgejo, JobHandle, JobSpec, Scope};
use prost::Message;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(10);

/// A non-200 answer: its status, content type and body.
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Failure {
    /// The `code` of a Connect error body.
    pub fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|body| body["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub uuid: Option<String>,
    pub token: Option<String>,
    pub request_key: Option<String>,
}

impl Client {
    pub fn new(fake: &FakeForgejo) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("{}/api/actions", fake.url()),
            uuid: None,
            token: None,
            request_key: None,
        }
    }

    /// Sends raw bytes to `<base>/<path>` with the runner's headers.
    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("content-type", content_type)
            .header("connect-protocol-version", "1")
            .header("user-agent", "forgejo-runner/test")
            .body(body);
        if let Some(uuid) = &self.uuid {
            request = request.header("x-runner-uuid", uuid);
        }
        if let Some(token) = &self.token {
            request = request.header("x-runner-token", token);
        }
        if let Some(key) = &self.request_key {
            request = request.header("x-runner-request-key", key);
        }
        match request.send().await {
            Ok(response) => response,
            Err(error) => panic!("the fake did not answer: {error}"),
        }
    }

    /// One call in binary protobuf.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, Failure> {
        let response = self.post(path, "application/proto", request.encode_to_vec()).await;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
        let body = response.bytes().await.unwrap_or_default();
        if status != 200 {
            return Err(Failure { status, content_type, body: String::from_utf8_lossy(&body).into_owned() });
        }
        assert_eq!(content_type, "application/proto");
        Ok(Resp::decode(body).unwrap_or_else(|error| panic!("undecodable answer: {error}")))
    }

    pub async fn register(&self, request: &wire::RegisterRequest) -> Result<wire::RegisterResponse, Failure> {
        self.call("runner.v1.RunnerService/Register", request).await
    }

    pub async fn declare(&self, labels: &[&str]) -> Result<wire::DeclareResponse, Failure> {
        let request = wire::DeclareRequest {
            version: "v9".into(),
            labels: labels.iter().map(|label| label.to_string()).collect(),
        };
        self.call("runner.v1.RunnerService/Declare", &request).await
    }

    pub async fn fetch(&self, tasks_version: i64) -> Result<wire::FetchTaskResponse, Failure> {
        let request = wire::FetchTaskRequest { tasks_version };
        self.call("runner.v1.RunnerService/FetchTask", &request).await
    }

    pub async fn update_task(&self, request: &wire::UpdateTaskRequest) -> Result<wire::UpdateTaskResponse, Failure> {
        self.call("runner.v1.RunnerService/UpdateTask", request).await
    }

    pub async fn update_log(&self, task_id: i64, index: i64, rows: &[&str], no_more: bool) -> Result<i64, Failure> {
        let request = wire::UpdateLogRequest {
            task_id,
            index,
            rows: rows
                .iter()
                .map(|content| wire::LogRow {
                    time: Some(pbjson_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                    content: content.to_string(),
                })
                .collect(),
            no_more,
        };
        let response: wire::UpdateLogResponse = self.call("runner.v1.RunnerService/UpdateLog", &request).await?;
        Ok(response.ack_index)
    }
}

/// A runner registered with a fresh global token and `labels`.
pub async fn registered(fake: &FakeForgejo, labels: &[&str], ephemeral: bool) -> Client {
    let mut client = Client::new(fake);
    let request = wire::RegisterRequest {
        name: "runner-1".into(),
        token: fake.registration_token(Scope::Global),
        version: "v1".into(),
        labels: labels.iter().map(|label| label.to_string()).collect(),
        ephemeral,
        ..Default::default()
    };
    let runner = client
        .register(&request)
        .await
        .unwrap_or_else(|failure| panic!("register failed: {failure:?}"))
        .runner
        .unwrap_or_default();
    client.uuid = Some(runner.uuid);
    client.token = Some(runner.token);
    client
}

pub const PAYLOAD: &str = "name: ci\non: push\njobs:\n  build:\n    runs-on: linux\n    steps:\n      - name: one\n        run: echo 1\n      - name: two\n        run: echo 2\n";

/// A two-step job on `linux` of the `solstice/test` repository.
pub fn two_step_job() -> JobSpec {
    JobSpec::new("build", PAYLOAD, &["linux"], &["one", "two"])
}

/// A runner that picked up a newly added two-step job: the client, the job and the task.
pub async fn running_task(fake: &FakeForgejo) -> (Client, JobHandle, wire::Task) {
    let client = registered(fake, &["linux"], false).await;
    let job = fake.add_job(two_step_job());
    let task = client
        .fetch(0)
        .await
        .unwrap_or_else(|failure| panic!("fetch failed: {failure:?}"))
        .task
        .unwrap_or_else(|| panic!("no task for a matching runner"));
    (client, job, task)
}

/// A step state for step `id` with a range of rows and a result.
pub fn step(id: i64, result: wire::Result, log_index: i64, log_length: i64) -> wire::StepState {
    wire::StepState {
        id,
        result: result as i32,
        started_at: Some(pbjson_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
        stopped_at: (result != wire::Result::Unspecified)
            .then_some(pbjson_types::Timestamp { seconds: 1_700_000_001, nanos: 0 }),
        log_index,
        log_length,
    }
}

/// An UpdateTask request for `task_id`.
pub fn state(task_id: i64, result: wire::Result, steps: Vec<wire::StepState>) -> wire::UpdateTaskRequest {
    wire::UpdateTaskRequest {
        state: Some(wire::TaskState {
            id: task_id,
            result: result as i32,
            steps,
            stopped_at: (result != wire::Result::Unspecified)
                .then_some(pbjson_types::Timestamp { seconds: 1_700_000_002, nanos: 0 }),
            ..Default::default()
        }),
        outputs: Default::default(),
    }
}
