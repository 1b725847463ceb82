//! The two Connect unary codecs: binary protobuf and protojson (forgejo.md §1.2).

use axum::http::{HeaderMap, header};
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

    /// Encodes the message of a successful answer, the bare message without framing (§1.2).
    pub fn encode<M>(self, message: &M) -> Result<Vec<u8>, ConnectError>
    where
        M: prost::Message + Serialize,
    {
        match self {
            Codec::Proto => Ok(message.encode_to_vec()),
            Codec::Json => serde_json::to_vec(message)
                .map_err(|error| ConnectError::new(Code::Internal, format!("marshal message: {error}"))),
        }
    }
}
