//! The built-in functions: their names and arities (checked while parsing) and the ones that
//! only compute on their arguments. `case`, `hashFiles` and the status functions need the
//! evaluator or the context and live there.

use crate::eval::val::{self, Val};
use crate::{EvalError, casefold, json, memory};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Contains,
    StartsWith,
    EndsWith,
    Format,
    Join,
    ToJson,
    FromJson,
    HashFiles,
    Case,
    Success,
    Failure,
    Always,
    Cancelled,
}

const ALL: [Function; 13] = [
    Function::Contains,
    Function::StartsWith,
    Function::EndsWith,
    Function::Format,
    Function::Join,
    Function::ToJson,
    Function::FromJson,
    Function::HashFiles,
    Function::Case,
    Function::Success,
    Function::Failure,
    Function::Always,
    Function::Cancelled,
];

impl Function {
    /// Function names are case-insensitive.
    pub(crate) fn lookup(name: &str) -> Option<Function> {
        ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The name as GitHub's documentation spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Function::Contains => "contains",
            Function::StartsWith => "startsWith",
            Function::EndsWith => "endsWith",
            Function::Format => "format",
            Function::Join => "join",
            Function::ToJson => "toJSON",
            Function::FromJson => "fromJSON",
            Function::HashFiles => "hashFiles",
            Function::Case => "case",
            Function::Success => "success",
            Function::Failure => "failure",
            Function::Always => "always",
            Function::Cancelled => "cancelled",
        }
    }

    /// Fewest and most arguments.
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Function::Contains | Function::StartsWith | Function::EndsWith => (2, 2),
            Function::Format | Function::HashFiles => (1, 255),
            Function::Join => (1, 2),
            Function::ToJson | Function::FromJson => (1, 1),
            Function::Case => (3, usize::MAX),
            // A job-level `if:` may name the needed jobs whose status counts: `success('build')`.
            Function::Success | Function::Failure => (0, usize::MAX),
            Function::Always | Function::Cancelled => (0, 0),
        }
    }

    pub(crate) fn is_status(self) -> bool {
        matches!(self, Function::Success | Function::Failure | Function::Always | Function::Cancelled)
    }
}

/// `contains(search, item)`: substring test (ignoring case) when both are primitives, element
/// test (with `==`) when `search` is an array, false otherwise.
pub(crate) fn contains(search: &Val, item: &Val) -> Val {
    let found = if let Some(items) = search.items() {
        items.iter().any(|element| val::equals(item, element))
    } else if search.is_primitive() && item.is_primitive() {
        casefold::contains(&search.to_coerced_string(), &item.to_coerced_string())
    } else {
        false
    };
    Val::Bool(found)
}

pub(crate) fn starts_with(text: &Val, prefix: &Val) -> Val {
    Val::Bool(
        text.is_primitive()
            && prefix.is_primitive()
            && casefold::starts_with(&text.to_coerced_string(), &prefix.to_coerced_string()),
    )
}

pub(crate) fn ends_with(text: &Val, suffix: &Val) -> Val {
    Val::Bool(
        text.is_primitive()
            && suffix.is_primitive()
            && casefold::ends_with(&text.to_coerced_string(), &suffix.to_coerced_string()),
    )
}

/// `join(array, separator = ',')`; a primitive is returned as its string, an object as ''.
pub(crate) fn join(items: &Val, separator: Option<&Val>) -> Result<Val, EvalError> {
    if items.is_primitive() {
        return Ok(Val::string(items.to_coerced_string()));
    }
    let Some(items) = items.items() else {
        return Ok(Val::string(""));
    };
    let separator = match separator {
        Some(s) if s.is_primitive() => s.to_coerced_string(),
        _ => ",".to_owned(),
    };
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&separator);
        }
        out.push_str(&item.to_coerced_string());
        memory::check_building(out.len())?;
    }
    Ok(Val::string(out))
}

pub(crate) fn to_json(value: &Val) -> Result<Val, EvalError> {
    json::pretty(value).map(Val::string)
}

pub(crate) fn from_json(text: &Val) -> Result<Val, EvalError> {
    json::parse(&text.to_coerced_string())
}

/// `format('{0} and {1}', a, b)`, with .NET's rules: `{{` and `}}` are literal braces, `{N…}`
/// inserts argument N (anything after the digits up to `}` is ignored, as a format specifier
/// would be), any other brace is an error.
pub(crate) fn format(args: &[Val]) -> Result<Val, EvalError> {
    let pattern = args.first().map(Val::to_coerced_string).unwrap_or_default();
    let values = args.get(1..).unwrap_or_default();
    let invalid = || EvalError { message: format!("The following format string is invalid: {pattern}") };
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern.as_str();
    loop {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (Some(open), close) if close.is_none_or(|close| open < close) => {
                let after = &rest[open + 1..];
                if let Some(escaped) = after.strip_prefix('{') {
                    out.push_str(&rest[..=open]);
                    rest = escaped;
                    continue;
                }
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                let Some(close) = close.filter(|_| digits > 0) else {
                    return Err(invalid());
                };
                let index: usize = after[..digits].parse().unwrap_or(usize::MAX);
                let Some(value) = values.get(index) else {
                    return Err(EvalError {
                        message: format!(
                            "The following format string references more arguments than were supplied: {pattern}"
                        ),
                    });
                };
                out.push_str(&rest[..open]);
                out.push_str(&value.to_coerced_string());
                memory::check_building(out.len())?;
                rest = &rest[close + 1..];
            }
            (_, Some(close)) => {
                if !rest[close + 1..].starts_with('}') {
                    return Err(invalid());
                }
                out.push_str(&rest[..=close]);
                rest = &rest[close + 2..];
            }
            (_, None) => {
                out.push_str(rest);
                break;
            }
        }
    }
    Ok(Val::string(out))
}
