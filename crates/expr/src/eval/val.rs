//! The evaluator's own value type. Unlike the public [`Value`], arrays and objects are shared
//! (`Rc`), because GitHub compares them by identity: `a == a` is true, two equal-looking
//! objects are not equal. It also knows the "filtered array" a `*` produces, which a further
//! index applies to each element instead of to the array.

use std::cmp::Ordering;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::Value;
use crate::casefold;
use crate::number;

#[derive(Debug, Clone)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Number(f64),
    String(Rc<str>),
    Array(Rc<Vec<Val>>),
    Object(Rc<IndexMap<String, Val>>),
    /// What `x.*` / `x[*]` produce: an array whose further indexing maps over its elements.
    Filtered(Rc<Vec<Val>>),
}

impl Val {
    pub(crate) fn string(s: impl Into<Rc<str>>) -> Val {
        Val::String(s.into())
    }

    pub(crate) fn from_value(value: &Value) -> Val {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Number(*n),
            Value::String(s) => Val::string(s.as_str()),
            Value::Array(items) => Val::Array(Rc::new(items.iter().map(Val::from_value).collect())),
            Value::Object(map) => {
                Val::Object(Rc::new(map.iter().map(|(k, v)| (k.clone(), Val::from_value(v))).collect()))
            }
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Number(n) => Value::Number(*n),
            Val::String(s) => Value::String(s.to_string()),
            Val::Array(items) | Val::Filtered(items) => Value::Array(items.iter().map(Val::to_value).collect()),
            Val::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_value())).collect()),
        }
    }

    /// Null, booleans, numbers and strings; the only values that coerce to a string.
    pub(crate) fn is_primitive(&self) -> bool {
        matches!(self, Val::Null | Val::Bool(_) | Val::Number(_) | Val::String(_))
    }

    pub(crate) fn items(&self) -> Option<&[Val]> {
        match self {
            Val::Array(items) | Val::Filtered(items) => Some(items),
            _ => None,
        }
    }

    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Number(n) => *n != 0.0 && !n.is_nan(),
            Val::String(s) => !s.is_empty(),
            Val::Array(_) | Val::Object(_) | Val::Filtered(_) => true,
        }
    }

    pub(crate) fn to_number(&self) -> f64 {
        match self {
            Val::Null => 0.0,
            Val::Bool(b) => f64::from(u8::from(*b)),
            Val::Number(n) => *n,
            Val::String(s) => number::parse(s),
            Val::Array(_) | Val::Object(_) | Val::Filtered(_) => f64::NAN,
        }
    }

    pub(crate) fn to_coerced_string(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Bool(b) => b.to_string(),
            Val::Number(n) => number::format(*n),
            Val::String(s) => s.to_string(),
            Val::Array(_) | Val::Filtered(_) => "Array".to_owned(),
            Val::Object(_) => "Object".to_owned(),
        }
    }

    /// Case-insensitive property lookup.
    pub(crate) fn property(map: &IndexMap<String, Val>, key: &str) -> Option<Val> {
        if let Some(v) = map.get(key) {
            return Some(v.clone());
        }
        map.iter().find(|(k, _)| casefold::eq(k, key)).map(|(_, v)| v.clone())
    }
}

/// The kinds comparisons distinguish after coercion; a filtered array is an array.
#[derive(PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn kind(v: &Val) -> Kind {
    match v {
        Val::Null => Kind::Null,
        Val::Bool(_) => Kind::Bool,
        Val::Number(_) => Kind::Number,
        Val::String(_) => Kind::String,
        Val::Array(_) | Val::Filtered(_) => Kind::Array,
        Val::Object(_) => Kind::Object,
    }
}

/// GitHub's loose coercion before comparing (docs: "GitHub performs loose equality
/// comparisons"): null and booleans become numbers; a string compared with a number becomes a
/// number; arrays and objects are never converted.
fn coerce(left: &Val, right: &Val) -> (Val, Val) {
    let (lk, rk) = (kind(left), kind(right));
    if lk == rk {
        return (left.clone(), right.clone());
    }
    match (lk, rk) {
        (Kind::Number, Kind::String) => (left.clone(), Val::Number(right.to_number())),
        (Kind::String, Kind::Number) => (Val::Number(left.to_number()), right.clone()),
        (Kind::Null | Kind::Bool, _) => coerce(&Val::Number(left.to_number()), right),
        (_, Kind::Null | Kind::Bool) => coerce(left, &Val::Number(right.to_number())),
        _ => (left.clone(), right.clone()),
    }
}

/// `==`: NaN equals nothing, strings ignore case, arrays and objects only equal themselves.
pub(crate) fn equals(left: &Val, right: &Val) -> bool {
    match coerce(left, right) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Number(a), Val::Number(b)) => a == b,
        (Val::String(a), Val::String(b)) => casefold::eq(&a, &b),
        (Val::Object(a), Val::Object(b)) => Rc::ptr_eq(&a, &b),
        (Val::Array(a) | Val::Filtered(a), Val::Array(b) | Val::Filtered(b)) => Rc::ptr_eq(&a, &b),
        _ => false,
    }
}

/// The order `<` and `>` use; `None` when the values do not compare (different kinds after
/// coercion, NaN, arrays, objects, null).
pub(crate) fn order(left: &Val, right: &Val) -> Option<Ordering> {
    match coerce(left, right) {
        (Val::Number(a), Val::Number(b)) => a.partial_cmp(&b),
        (Val::String(a), Val::String(b)) => Some(casefold::cmp(&a, &b)),
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}
