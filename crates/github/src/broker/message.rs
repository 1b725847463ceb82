//! Broker messages (ref §3.5, §3.6): the `TaskAgentMessage` envelope and the bodies the runner
//! acts on. The broker never encrypts (no `iv`), so the body is plain JSON text.
//!
//! Field names are matched ignoring case and underscores: the official client and server write
//! camelCase, the broker writes `RunnerJobRequest` bodies in snake_case, and other clients send
//! PascalCase (ref §0).

use serde_json::{Map, Value};

/// A message the broker delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A job for this runner: acknowledge it, then acquire it from the run service (ref §4.1).
    RunnerJobRequest(JobRequestRef),
    /// The user cancelled the job `job_id` (ref §4.5).
    JobCancellation { job_id: String },
    /// The server wants the runner to mint a new OAuth token.
    ForceTokenRefresh,
    /// The server asks the runner to exit (hosted runners; ref §3.6).
    RunnerShutdown { reason: String },
    /// Anything else (self-update, config refresh, legacy job messages): logged and dropped.
    Ignored { message_type: String },
}

/// The `RunnerJobRequest` body: where and how to acquire the job (ref §3.6, §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequestRef {
    /// The job's id (`id`).
    pub id: String,
    /// What acknowledge and acquirejob name the job by (`runner_request_id`).
    pub runner_request_id: String,
    /// Whether the broker wants an acknowledge before the acquire (ref §3.3).
    pub should_acknowledge: bool,
    /// The run service base for acquirejob; empty means the legacy pipelines path (unsupported).
    pub run_service_url: String,
    /// Echoed in acquirejob and completejob.
    pub billing_owner_id: Option<String>,
}

/// Why a broker answer could not be read as a message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("read the broker message: {0}")]
    Malformed(String),
}

impl Message {
    /// Reads a `TaskAgentMessage` envelope and its body.
    pub fn parse(envelope: &Value) -> Result<Message, MessageError> {
        let envelope = envelope.as_object().ok_or_else(|| malformed("the message is not a JSON object"))?;
        let message_type =
            text(envelope, "messageType").ok_or_else(|| malformed("the message has no messageType"))?.to_owned();
        if text(envelope, "iv").is_some_and(|iv| !iv.is_empty()) {
            return Err(malformed("the message is encrypted, which the broker never does (ref §3.5)"));
        }
        let body = match field(envelope, "body") {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                serde_json::from_str(text.trim_start_matches('\u{feff}'))
                    .map_err(|error| malformed(&format!("the {message_type} body is not JSON: {error}")))?
            }
            Some(Value::Object(object)) => Value::Object(object.clone()),
            _ => Value::Object(Map::new()),
        };
        let body = body.as_object().cloned().unwrap_or_default();
        let required = |name: &str| {
            text(&body, name)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| malformed(&format!("the {message_type} body has no {name}")))
        };
        Ok(match message_type.as_str() {
            "RunnerJobRequest" => Message::RunnerJobRequest(JobRequestRef {
                id: required("id")?,
                runner_request_id: required("runner_request_id")?,
                should_acknowledge: boolean(&body, "should_acknowledge"),
                run_service_url: text(&body, "run_service_url").unwrap_or_default().to_owned(),
                billing_owner_id: text(&body, "billing_owner_id").filter(|id| !id.is_empty()).map(str::to_owned),
            }),
            "JobCancellation" => Message::JobCancellation { job_id: required("jobId")? },
            "ForceTokenRefresh" => Message::ForceTokenRefresh,
            "RunnerShutdown" => {
                Message::RunnerShutdown { reason: text(&body, "reason").unwrap_or_default().to_owned() }
            }
            _ => Message::Ignored { message_type },
        })
    }
}

fn malformed(why: &str) -> MessageError {
    MessageError::Malformed(why.to_owned())
}

/// `name` and `key` are the same field when they agree ignoring case and underscores.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let folded = |s: &str| s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect::<String>();
    let wanted = folded(name);
    object.iter().find(|(key, _)| folded(key) == wanted).map(|(_, value)| value)
}

fn text<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    field(object, name).and_then(Value::as_str)
}

/// A flag sent as a JSON bool or, by .NET serializers, as `"True"`/`"False"`.
fn boolean(object: &Map<String, Value>, name: &str) -> bool {
    match field(object, name) {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(flag)) => flag.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn envelope(kind: &str, body: Value) -> Value {
        json!({"messageId": 1, "messageType": kind, "iv": null, "body": body.to_string()})
    }

    fn check(input: Value, expected: Message) {
        assert_eq!(Message::parse(&input).unwrap(), expected, "{input}");
    }

    #[test]
    fn messages_are_read_whatever_the_field_casing() {
        let job = JobRequestRef {
            id: "j".into(),
            runner_request_id: "r".into(),
            should_acknowledge: true,
            run_service_url: "http://run/".into(),
            billing_owner_id: Some("b".into()),
        };
        check(
            envelope(
                "RunnerJobRequest",
                json!({"id": "j", "runner_request_id": "r", "should_acknowledge": true,
                       "run_service_url": "http://run/", "billing_owner_id": "b"}),
            ),
            Message::RunnerJobRequest(job.clone()),
        );
        check(
            json!({"MessageType": "RunnerJobRequest", "Body": json!({"Id": "j", "RunnerRequestId": "r",
                   "ShouldAcknowledge": "True", "RunServiceUrl": "http://run/", "BillingOwnerId": "b"}).to_string()}),
            Message::RunnerJobRequest(job),
        );
        check(
            envelope("JobCancellation", json!({"jobId": "j", "timeout": "00:05:00"})),
            Message::JobCancellation { job_id: "j".into() },
        );
        check(envelope("ForceTokenRefresh", json!({})), Message::ForceTokenRefresh);
        check(json!({"messageType": "ForceTokenRefresh", "body": ""}), Message::ForceTokenRefresh);
        check(
            envelope("RunnerShutdown", json!({"reason": "deprovisioned"})),
            Message::RunnerShutdown { reason: "deprovisioned".into() },
        );
        check(
            envelope("RunnerRefresh", json!({"target_version": "9.9.9"})),
            Message::Ignored { message_type: "RunnerRefresh".into() },
        );
    }

    #[test]
    fn messages_missing_what_the_runner_needs_are_refused() {
        for input in [
            json!([]),
            json!({"body": "{}"}),
            envelope("RunnerJobRequest", json!({"id": "j"})),
            envelope("JobCancellation", json!({"timeout": "00:05:00"})),
            json!({"messageType": "RunnerJobRequest", "body": "not json"}),
            json!({"messageType": "JobCancellation", "iv": "AAAA", "body": "c2VjcmV0"}),
        ] {
            assert!(Message::parse(&input).is_err(), "{input}");
        }
    }
}
