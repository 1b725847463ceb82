//! The prost types generated from `proto/` at build time. They never leave this crate: the
//! public API speaks our own types, converted at the boundary.

#![allow(clippy::all, clippy::pedantic, missing_docs, dead_code)]

pub(crate) mod runner {
    include!(concat!(env!("OUT_DIR"), "/runner.v1.rs"));
}

pub(crate) mod ping {
    include!(concat!(env!("OUT_DIR"), "/ping.v1.rs"));
}

/// A protobuf timestamp from ours.
pub(crate) fn timestamp(at: time::OffsetDateTime) -> prost_types::Timestamp {
    // A nanosecond part is always below 10^9, so it fits an i32.
    prost_types::Timestamp { seconds: at.unix_timestamp(), nanos: at.nanosecond() as i32 }
}

/// Ours from a protobuf struct value, the JSON it stands for.
pub(crate) fn json_value(value: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(b),
        Some(Kind::NumberValue(n)) => {
            serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s),
        Some(Kind::ListValue(list)) => serde_json::Value::Array(list.values.into_iter().map(json_value).collect()),
        Some(Kind::StructValue(object)) => serde_json::Value::Object(json_object(object)),
    }
}

/// Ours from a protobuf struct.
pub(crate) fn json_object(object: prost_types::Struct) -> serde_json::Map<String, serde_json::Value> {
    object.fields.into_iter().map(|(key, value)| (key, json_value(value))).collect()
}
