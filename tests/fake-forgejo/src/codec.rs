//! The two Connect unary codecs: binary protobuf and protojson (forgejo.md §1.2).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connect_error::{Code, ConnectError};

/// How a request body was encoded; the answer uses the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `application/proto`: the bare binary message, what forgejo-runner sends.
    Proto,
    /// `application/json`: protojson (lowerCamelCase names, int64 as strings, bytes as base64).
    Json,
}

impl Codec {
    /// The codec a request's `Content-Type` names, parameters such as `charset` ignored.
    pub fn from_headers(headers: &HeaderMap) -> Option<Codec> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = value.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/proto" => Some(Codec::Proto),
            "application/json" => Some(Codec::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Proto => "application/proto",
            Codec::Json => "application/json",
        }
    }

    /// Decodes a request message. A body that does not decode (including a string field that is
    /// not valid UTF-8, which prost refuses like the Go server does, §1.2) rejects the whole
    /// request with `invalid_argument`, as connect-go does for an unmarshal failure.
    pub fn decode<M>(self, body: &[u8]) -> Result<M, ConnectError>
    where
        M: prost::Message + Default + DeserializeOwned,
    {
        match self {
            Codec::Proto => M::decode(body)
                .map_err(|error| ConnectError::new(Code::InvalidArgument, format!("unmarshal message: {error}"))),
            Codec::Json => serde_json::from_slice(body)
                .map_err(|error| ConnectError::new(Code::InvalidArgument, format!("unmarshal message: {error}"))),
        }
    }

    /// Encodes a successful answer: HTTP 200 and the bare message (§1.2).
    pub fn respond<M>(self, message: &M) -> Response
    where
        M: prost::Message + Serialize,
    {
        let body = match self {
            Codec::Proto => message.encode_to_vec(),
            Codec::Json => match serde_json::to_vec(message) {
                Ok(body) => body,
                Err(error) => {
                    return ConnectError::new(Code::Internal, format!("marshal message: {error}")).into_response();
                }
            },
        };
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type()));
        response
    }
}
