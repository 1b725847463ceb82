//! The job's secrets (ref §4.2): what is sealed for the bus, and what the runner masks.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use contract::{BusKey, Sealed, SecretString};
use serde_json::Value;
use ulid::Ulid;

use super::TranslateError;
use crate::message::{MessageError, Path, Variable, field, list, optional_str};

/// The variable holding `github.token` (`GITHUB_TOKEN`).
const GITHUB_TOKEN: &str = "system.github.token";
/// Secret variables that are credentials of the runner machinery, not of the `secrets` context
/// (actions/runner Variables.cs, ref §4.2).
const NOT_SECRETS_CONTEXT: &[&str] = &[GITHUB_TOKEN, "system.accessToken"];

/// The secret variables of one message, in clear until sealed.
pub(super) struct Secrets {
    /// The `secrets` context: every secret variable but the two credentials, plus
    /// `GITHUB_TOKEN` = `system.github.token`.
    context: BTreeMap<String, SecretString>,
    github_token: Option<SecretString>,
    /// Every secret variable's value, the credentials included.
    values: Vec<SecretString>,
    /// The values of `system.github.token` and `system.accessToken`.
    credentials: Vec<SecretString>,
}

impl Secrets {
    pub(super) fn from_variables(variables: &BTreeMap<String, Variable>) -> Self {
        let mut context = BTreeMap::new();
        let mut github_token = None;
        let mut values = Vec::new();
        let mut credentials = Vec::new();
        for (name, variable) in variables.iter().filter(|(_, v)| v.is_secret) {
            values.push(SecretString::new(variable.value.clone()));
            if NOT_SECRETS_CONTEXT.iter().any(|n| n.eq_ignore_ascii_case(name)) && !variable.value.is_empty() {
                credentials.push(SecretString::new(variable.value.clone()));
            }
            if name.eq_ignore_ascii_case(GITHUB_TOKEN) {
                github_token = Some(SecretString::new(variable.value.clone())).filter(|t| !t.expose().is_empty());
            } else if !NOT_SECRETS_CONTEXT.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                context.insert(name.clone(), SecretString::new(variable.value.clone()));
            }
        }
        if let Some(token) = &github_token {
            context.insert("GITHUB_TOKEN".to_owned(), token.clone());
        }
        Secrets { context, github_token, values, credentials }
    }

    /// Whether `text` is one of the runner's credentials (`system.github.token`,
    /// `system.accessToken`). Only those: an ordinary secret may well equal an ordinary value
    /// such as `1`, which must stay in the context.
    pub(super) fn is_credential(&self, text: &str) -> bool {
        self.credentials.iter().any(|v| v.expose() == text)
    }

    /// The `secrets` context, each sealed under the bus key with the job's id as AAD.
    pub(super) fn seal(&self, key: &BusKey, job: Ulid) -> Result<BTreeMap<String, Sealed>, TranslateError> {
        self.context
            .iter()
            .map(|(name, value)| {
                key.seal(job, value.expose())
                    .map(|sealed| (name.clone(), sealed))
                    .map_err(|source| TranslateError::Seal { name: name.clone(), source })
            })
            .collect()
    }

    /// The checkout's token: `GITHUB_TOKEN`, sealed like the secrets.
    pub(super) fn seal_token(&self, key: &BusKey, job: Ulid) -> Result<Option<Sealed>, TranslateError> {
        let Some(token) = &self.github_token else { return Ok(None) };
        key.seal(job, token.expose())
            .map(Some)
            .map_err(|source| TranslateError::Seal { name: "GITHUB_TOKEN".to_owned(), source })
    }

    /// What the log masker must hide: every secret value and each of its lines, the job token,
    /// `base64("x-access-token:" + token)` (the form git's basic auth header carries, ref
    /// §4.2), and the message's `mask` hints of type variable. Empty values never are masks.
    pub(super) fn masks(&self, job_token: &str, message: &Value) -> Result<Vec<SecretString>, MessageError> {
        let mut masks: Vec<String> = self.values.iter().map(|v| v.expose().to_owned()).collect();
        masks.push(job_token.to_owned());
        for token in [Some(job_token), self.github_token.as_ref().map(SecretString::expose)].into_iter().flatten() {
            masks.push(STANDARD.encode(format!("x-access-token:{token}")));
        }
        masks.extend(hints(message)?);
        let lines: Vec<String> = masks
            .iter()
            .filter(|m| m.contains('\n') || m.contains('\r'))
            .flat_map(|m| m.lines())
            .map(|line| line.trim().to_owned())
            .collect();
        masks.extend(lines);
        masks.retain(|m| !m.trim().is_empty());
        masks.sort_unstable();
        masks.dedup();
        Ok(masks.into_iter().map(SecretString::new).collect())
    }
}

/// `mask[]` entries of type variable (1): literal values to hide. Regex hints (2) are left to
/// the step engine's own masker, which takes literal values only; they are logged.
fn hints(message: &Value) -> Result<Vec<String>, MessageError> {
    let root = Path::root("message");
    let list_path = root.key("mask");
    let mut out = Vec::new();
    for (i, hint) in list(message, "mask", &root)?.iter().enumerate() {
        let path = list_path.index(i);
        if !hint.is_object() {
            return Err(MessageError::wrong_type(&path, "a mask hint mapping", hint));
        }
        let is_variable = match field(hint, "type") {
            Some(Value::String(kind)) => kind.eq_ignore_ascii_case("variable"),
            Some(Value::Number(kind)) => kind.as_u64() == Some(1),
            _ => false,
        };
        let value = optional_str(hint, "value", &path)?.unwrap_or_default();
        if is_variable {
            out.push(value.to_owned());
        } else if !value.is_empty() {
            tracing::debug!("a mask hint that is not a literal value is not applied by the runner");
        }
    }
    Ok(out)
}
