//! The HTTP side: one POST route per Connect method under `/api/actions` (forgejo.md §1.1).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::time::Instant;

use crate::auth::authenticate;
use crate::call::Call;
use crate::codec::Codec;
use crate::connect_error::{Code, ConnectError};
use crate::faults::PROXY_PAGE;
use crate::proto::ping::v1 as ping;
use crate::state::{Shared, State};
use crate::{compression, logs, runners, task_update, tasks};

const PING_SERVICE: &str = "ping.v1.PingService";
const RUNNER_SERVICE: &str = "runner.v1.RunnerService";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/api/actions/{service}/{method}", post(handle)).with_state(shared)
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.change(|state| {
        let mut call = Call::from_request(&service, &method, &headers);
        let response = answer(state, &service, &method, &headers, &body);
        call.status = response.status.as_u16();
        call.code = response.code;
        tracing::debug!(
            service = %call.service,
            method = %call.method,
            status = call.status,
            code = call.code.map(|code| code.as_str()),
            "fake forgejo answered"
        );
        state.calls.push(call);
        response.response
    })
}

struct Answer {
    response: Response,
    status: StatusCode,
    code: Option<Code>,
}

impl From<Response> for Answer {
    fn from(response: Response) -> Answer {
        Answer { status: response.status(), response, code: None }
    }
}

impl From<ConnectError> for Answer {
    fn from(error: ConnectError) -> Answer {
        let code = Some(error.code);
        Answer { status: error.code.http_status(), response: error.into_response(), code }
    }
}

fn answer(state: &mut State, service: &str, method: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
    // A proxy in front of the server answers before the server sees anything; its page is
    // HTML, not a Connect error (§1.4: "a proxy may also return non-JSON errors").
    if state.faults.proxy_is_down(Instant::now()) {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, PROXY_PAGE).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        return response.into();
    }
    // §1.1: an unknown method under a service prefix is a plain 404 from the generated handler.
    let known = match service {
        PING_SERVICE => method == "Ping",
        RUNNER_SERVICE => matches!(method, "Register" | "Declare" | "FetchTask" | "UpdateTask" | "UpdateLog"),
        _ => false,
    };
    if !known {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response().into();
    }
    // An injected error stands in for the server failing the call: nothing else happens.
    if let Some(position) =
        state.queued_errors.iter().position(|queued| queued.method.as_deref().is_none_or(|wanted| wanted == method))
        && let Some(queued) = state.queued_errors.remove(position)
    {
        return queued.error.into();
    }
    // §1.2: the two codecs connect-go accepts; anything else is refused before decoding.
    let Some(codec) = Codec::from_headers(headers) else {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response().into();
    };
    // §1.5: connect-go reads gzip'ed requests by default; another encoding it does not know
    // is refused as unimplemented.
    let inflated;
    let body = match headers.get(header::CONTENT_ENCODING).and_then(|value| value.to_str().ok()) {
        None => body,
        Some(encoding) if encoding.eq_ignore_ascii_case("identity") => body,
        Some(encoding) if encoding.eq_ignore_ascii_case("gzip") => match compression::gunzip(body) {
            Ok(plain) => {
                inflated = plain;
                &inflated
            }
            Err(error) => {
                return ConnectError::new(Code::InvalidArgument, format!("decompress request: {error}")).into();
            }
        },
        Some(encoding) => {
            return ConnectError::new(Code::Unimplemented, format!("unknown compression {encoding:?}")).into();
        }
    };
    match dispatch(state, codec, method, headers, body) {
        Ok(message) => success(codec, message, headers).into(),
        Err(error) => error.into(),
    }
}

/// HTTP 200 with the encoded message in the request's codec (§1.2), gzip'ed when the client
/// accepts it and the message is big enough (§1.5).
fn success(codec: Codec, message: Vec<u8>, headers: &HeaderMap) -> Response {
    let compress = message.len() >= compression::MIN_BYTES && compression::accepts_gzip(headers);
    let body = if compress { compression::gzip(&message) } else { message };
    let mut response = (StatusCode::OK, body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(codec.content_type()));
    if compress {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn dispatch(
    state: &mut State,
    codec: Codec,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, ConnectError> {
    match method {
        // §3.1: no auth, no side effects.
        "Ping" => {
            let request: ping::PingRequest = codec.decode(body)?;
            codec.encode(&ping::PingResponse { data: format!("Hello, {}!", request.data) })
        }
        // §1.3: Register is the one runner call without auth headers.
        "Register" => {
            let request = codec.decode(body)?;
            codec.encode(&runners::register(state, request)?)
        }
        "Declare" => {
            let request = codec.decode(body)?;
            let runner = authenticate(state, headers, false)?;
            codec.encode(&runners::declare(state, runner, request)?)
        }
        "FetchTask" => {
            let request = codec.decode(body)?;
            let runner = authenticate(state, headers, false)?;
            let key = headers.get("x-runner-request-key").and_then(|value| value.to_str().ok());
            codec.encode(&tasks::fetch_task(state, runner, key, request)?)
        }
        "UpdateTask" => {
            let request = codec.decode(body)?;
            let runner = authenticate(state, headers, true)?;
            codec.encode(&task_update::update_task(state, runner, request)?)
        }
        "UpdateLog" => {
            let request = codec.decode(body)?;
            let runner = authenticate(state, headers, true)?;
            codec.encode(&logs::update_log(state, runner, request)?)
        }
        _ => Err(ConnectError::new(Code::Unimplemented, "unknown method")),
    }
}
