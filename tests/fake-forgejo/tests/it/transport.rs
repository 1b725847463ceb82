//! Routes, codecs and error bodies (forgejo.md §1.1, §1.2, §1.4), and the record of calls.

use fake_forgejo::proto::runner::v1 as wire;
use fake_forgejo::{Code, Codec, FakeForgejo, JobSpec, Scope};
use prost::Message;
use serde_json::{Value, json};

use crate::client::{Client, registered};

async fn json_call(client: &Client, method: &str, body: Value) -> (u16, Value) {
    let response = client
        .post(&format!("runner.v1.RunnerService/{method}"), "application/json", body.to_string().into_bytes())
        .await;
    let status = response.status().as_u16();
    assert_eq!(response.headers().get("content-type").and_then(|value| value.to_str().ok()), Some("application/json"));
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn json_speaks_protojson_with_int64_as_strings_and_bytes_as_base64() {
    let fake = FakeForgejo::start().await.unwrap();
    let mut client = Client::new(&fake);
    let token = fake.registration_token(Scope::Global);
    let (status, registered) =
        json_call(&client, "Register", json!({ "name": "json-runner", "token": token, "labels": ["linux"] })).await;
    assert_eq!(status, 200);
    let runner = &registered["runner"];
    assert!(runner["id"].is_string(), "int64 is a JSON string: {runner}");
    assert_eq!(runner["labels"], json!(["linux"]));
    client.uuid = runner["uuid"].as_str().map(str::to_string);
    client.token = runner["token"].as_str().map(str::to_string);

    fake.add_job(JobSpec::new("build", "hi", &["linux"], &["one"]));
    // snake_case names and int64 given as strings are accepted on input.
    let (status, fetched) = json_call(&client, "FetchTask", json!({ "tasks_version": "0" })).await;
    assert_eq!(status, 200);
    assert!(fetched["tasksVersion"].is_string(), "{fetched}");
    let task = &fetched["task"];
    assert!(task["id"].is_string());
    assert_eq!(task["workflowPayload"], "aGk=");
    assert!(task["context"]["token"].is_string());

    let task_id = task["id"].clone();
    let (_, logged) = json_call(
        &client,
        "UpdateLog",
        json!({ "taskId": task_id, "index": "0", "rows": [{ "time": "2026-11-23T10:00:00Z", "content": "a" }] }),
    )
    .await;
    assert_eq!(logged["ackIndex"], "1");
    let (_, updated) = json_call(
        &client,
        "UpdateTask",
        json!({ "state": { "id": task_id, "result": "RESULT_FAILURE" }, "outputs": { "k": "v" } }),
    )
    .await;
    assert_eq!(updated["state"]["result"], "RESULT_FAILURE");
    assert_eq!(updated["sentOutputs"], json!(["k"]));

    let codecs: Vec<Option<Codec>> = fake.calls().iter().map(|call| call.codec).collect();
    assert!(codecs.iter().all(|codec| *codec == Some(Codec::Json)));
}

#[tokio::test]
async fn an_unknown_method_is_a_plain_404() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    let response = client.post("runner.v1.RunnerService/FetchSingleTask", "application/proto", Vec::new()).await;
    assert_eq!(response.status().as_u16(), 404);
    let body = response.text().await.unwrap_or_default();
    assert!(serde_json::from_str::<Value>(&body).is_err(), "not a Connect error: {body}");
}

#[tokio::test]
async fn errors_are_connect_json_bodies() {
    let fake = FakeForgejo::start().await.unwrap();
    let failure = Client::new(&fake).register(&wire::RegisterRequest::default()).await.unwrap_err();
    assert_eq!(failure.status, 400);
    assert_eq!(failure.content_type, "application/json");
    let body: Value = serde_json::from_str(&failure.body).unwrap();
    assert_eq!(body["code"], "invalid_argument");
    assert!(body["message"].as_str().is_some_and(|message| !message.is_empty()));
}

#[tokio::test]
async fn a_string_that_is_not_utf8_rejects_the_whole_request() {
    let fake = FakeForgejo::start().await.unwrap();
    let token = fake.registration_token(Scope::Global);
    // Field 1 (name), length 2, two bytes that are not UTF-8; then a valid token field.
    let mut body = vec![0x0a, 0x02, 0xff, 0xfe];
    body.extend(wire::RegisterRequest { token, labels: vec!["linux".into()], ..Default::default() }.encode_to_vec());
    let response = Client::new(&fake).post("runner.v1.RunnerService/Register", "application/proto", body).await;
    assert_eq!(response.status().as_u16(), 400);
    let bytes = response.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(body["code"], "invalid_argument");
    assert!(fake.runners().is_empty());
}

#[tokio::test]
async fn an_unknown_content_type_is_refused() {
    let fake = FakeForgejo::start().await.unwrap();
    let response = Client::new(&fake).post("ping.v1.PingService/Ping", "text/plain", b"hello".to_vec()).await;
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn the_calls_record_what_the_client_sent() {
    let fake = FakeForgejo::start().await.unwrap();
    let mut client = registered(&fake, &["linux"], false).await;
    client.request_key = Some("key-7".into());
    client.fetch(0).await.unwrap();

    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    let register = &calls[0];
    assert_eq!((register.method.as_str(), register.status), ("Register", 200));
    assert_eq!(register.runner_uuid, None);
    let fetch = &calls[1];
    assert_eq!(fetch.service, "runner.v1.RunnerService");
    assert_eq!(fetch.method, "FetchTask");
    assert_eq!(fetch.codec, Some(Codec::Proto));
    assert_eq!(fetch.runner_uuid, client.uuid);
    assert_eq!(fetch.runner_token, client.token);
    assert_eq!(fetch.request_key.as_deref(), Some("key-7"));
    assert_eq!(fetch.user_agent.as_deref(), Some("forgejo-runner/test"));
    assert_eq!(fetch.connect_protocol_version.as_deref(), Some("1"));
    assert_eq!(fetch.code, None);

    client.token = Some("wrong".into());
    client.fetch(0).await.unwrap_err();
    let last = fake.snapshot(|snapshot| snapshot.calls_of("FetchTask")).pop().unwrap();
    assert_eq!((last.status, last.code), (401, Some(Code::Unauthenticated)));
}

#[tokio::test]
async fn a_big_answer_is_gzipped_for_a_client_that_accepts_it() {
    let fake = FakeForgejo::start().await.unwrap();
    let mut client = registered(&fake, &["linux"], false).await;
    let mut spec = JobSpec::new("build", crate::client::PAYLOAD, &["linux"], &["one"]);
    spec.vars.insert("BIG".into(), "x".repeat(4096));
    fake.add_job(spec);

    // A client that decodes gzip itself (reqwest's decoder checks the CRC and length).
    client.request_key = Some("same".into());
    let task = client.fetch(0).await.unwrap().task.unwrap();
    assert_eq!(task.vars["BIG"].len(), 4096);
    let call = fake.calls().pop().unwrap();
    assert!(call.accept_encoding.is_some_and(|encoding| encoding.contains("gzip")));

    // The raw answer is a gzip member.
    client.http = reqwest::Client::builder().no_gzip().build().unwrap();
    let raw = client
        .http
        .post(format!("{}/runner.v1.RunnerService/FetchTask", client.base))
        .header("content-type", "application/proto")
        .header("accept-encoding", "gzip")
        .header("x-runner-uuid", client.uuid.clone().unwrap())
        .header("x-runner-token", client.token.clone().unwrap())
        .header("x-runner-request-key", "same")
        .body(wire::FetchTaskRequest { tasks_version: 0 }.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers().get("content-encoding").map(|value| value.as_bytes()), Some(&b"gzip"[..]));
    let body = raw.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b]);

    // A small answer, or a client that does not ask for gzip, gets the plain message.
    let plain = client.post("ping.v1.PingService/Ping", "application/proto", Vec::new()).await;
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = client.post("runner.v1.RunnerService/FetchTask", "application/proto", Vec::new()).await;
    assert_eq!(plain.headers().get("content-encoding"), None);
    assert!(wire::FetchTaskResponse::decode(plain.bytes().await.unwrap()).unwrap().task.is_some());
}

/// Ping requests in JSON, gzip'ed by Python's `gzip.compress(…, mtime=0)`: a short one (a
/// fixed-Huffman block) and a long repetitive one (a dynamic-Huffman block, see `long_words`).
const GZIP_FIXED: &str = "1f8b0800000000000203ab564a492c4954b2524aafca2c50aa0500818c70f30f000000";
const GZIP_DYNAMIC: &str = "1f8b0800000000000203edcbc10d80300805d0557e18c36d886253a5450b3d19777707cfbcfb7b68e3605a68ccde65a0aace668e5bda849b7ad455b0db2872183ce4825a41b09fc892254b962c59b2fc2ff47ee9b0c66b86070000";

fn long_words() -> String {
    let words = ["runner", "task", "log", "step", "forgejo", "solstice", "qemu", "illumos"];
    (0..300).map(|i| words[i * 7 % 8]).collect::<Vec<_>>().join(" ")
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

async fn gzipped_ping(client: &Client, body: Vec<u8>, encoding: &str) -> (u16, Value) {
    let response = client
        .http
        .post(format!("{}/ping.v1.PingService/Ping", client.base))
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_gzipped_request_is_read() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = Client::new(&fake);
    let (status, answer) = gzipped_ping(&client, unhex(GZIP_FIXED), "gzip").await;
    assert_eq!((status, answer), (200, json!({ "data": "Hello, gzip!" })));
    let (status, answer) = gzipped_ping(&client, unhex(GZIP_DYNAMIC), "gzip").await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"], format!("Hello, {}!", long_words()));
}

#[tokio::test]
async fn a_corrupt_or_unknown_compression_is_refused() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = Client::new(&fake);
    let mut corrupt = unhex(GZIP_DYNAMIC);
    let last = corrupt.len() - 5;
    corrupt[last] ^= 0xff;
    let (status, answer) = gzipped_ping(&client, corrupt, "gzip").await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalid_argument")));
    let (status, answer) = gzipped_ping(&client, b"{}".to_vec(), "br").await;
    assert_eq!((status, answer["code"].as_str()), (501, Some("unimplemented")));
}
