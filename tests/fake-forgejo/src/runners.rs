//! Register and Declare, and the registered runners as a test sees them.

use time::OffsetDateTime;

use crate::connect_error::{Code, ConnectError};
use crate::job_spec::Scope;
use crate::proto::runner::v1 as wire;
use crate::state::{Runner, State, new_token};

/// A registered runner as the admin UI would list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerView {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub version: String,
    pub labels: Vec<String>,
    pub ephemeral: bool,
    pub scope: Scope,
    pub last_online: Option<OffsetDateTime>,
    pub last_active: Option<OffsetDateTime>,
}

impl From<&Runner> for RunnerView {
    fn from(runner: &Runner) -> RunnerView {
        RunnerView {
            id: runner.id,
            uuid: runner.uuid.clone(),
            name: runner.name.clone(),
            version: runner.version.clone(),
            labels: runner.labels.clone(),
            ephemeral: runner.ephemeral,
            scope: runner.scope.clone(),
            last_online: runner.last_online,
            last_active: runner.last_active,
        }
    }
}

/// Makes a registration token for `scope`; older tokens of the same scope stop working, earlier
/// ones stay reusable until then (forgejo.md §3.2 step 2).
pub(crate) fn create_registration_token(state: &mut State, scope: Scope) -> String {
    for old in &mut state.registration_tokens {
        if old.scope == scope {
            old.active = false;
        }
    }
    let token = new_token();
    state.registration_tokens.push(crate::state::RegistrationToken { token: token.clone(), scope, active: true });
    token
}

/// What an admin gets when creating a runner without Register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerCredentials {
    pub id: i64,
    pub uuid: String,
    pub token: String,
}

/// A runner created by an admin (REST or `forgejo-cli actions register --secret`): it has no
/// labels until it calls Declare (forgejo.md §3.2, "alternative provisioning").
pub(crate) fn create_runner(
    state: &mut State,
    name: &str,
    scope: Scope,
    uuid: String,
    token: String,
) -> RunnerCredentials {
    let id = state.allocate_id();
    let credentials = RunnerCredentials { id, uuid: uuid.clone(), token: token.clone() };
    let runner = Runner {
        id,
        uuid,
        token,
        name: name.to_string(),
        version: String::new(),
        labels: Vec::new(),
        ephemeral: false,
        scope,
        last_online: None,
        last_active: None,
        tasks_taken: 0,
    };
    state.runners.insert(id, runner);
    credentials
}

/// The uuid and token of `forgejo-cli actions register --secret`: the token is the secret (40
/// hex characters), the uuid its first 16 ASCII bytes taken as the uuid's raw bytes (§3.2).
pub(crate) fn credentials_from_secret(secret: &str) -> Option<(String, String)> {
    if secret.len() != 40 || !secret.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: [u8; 16] = secret.as_bytes().get(..16)?.try_into().ok()?;
    Some((uuid::Uuid::from_bytes(bytes).to_string(), secret.to_string()))
}

pub(crate) fn register(
    state: &mut State,
    request: wire::RegisterRequest,
) -> Result<wire::RegisterResponse, ConnectError> {
    // §3.2 step 1.
    if request.token.is_empty() || request.name.is_empty() {
        return Err(ConnectError::new(Code::InvalidArgument, "missing runner token, name"));
    }
    // §3.2 step 2: looked up by exact string; missing or inactive is invalid_argument.
    let Some(registration) = state.registration_tokens.iter().find(|candidate| candidate.token == request.token) else {
        return Err(ConnectError::new(Code::InvalidArgument, "runner registration token not found"));
    };
    if !registration.active {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            "runner registration token has been invalidated, please use the latest one",
        ));
    }
    let scope = registration.scope.clone();
    // §3.2 step 4 and §2.2: the name is cut to 255 bytes; labels come from field 6 only.
    let mut name = request.name;
    truncate_at_char(&mut name, 255);
    let id = state.allocate_id();
    let runner = Runner {
        id,
        uuid: uuid::Uuid::new_v4().to_string(),
        token: new_token(),
        name,
        version: request.version,
        labels: request.labels,
        ephemeral: request.ephemeral,
        scope,
        last_online: None,
        last_active: None,
        tasks_taken: 0,
    };
    // §3.2 step 4: the token is returned once, here.
    let mut answer = wire_runner(&runner);
    answer.token = runner.token.clone();
    state.runners.insert(id, runner);
    Ok(wire::RegisterResponse { runner: Some(answer) })
}

/// §3.3: replaces the labels and the version.
pub(crate) fn declare(
    state: &mut State,
    runner_id: i64,
    request: wire::DeclareRequest,
) -> Result<wire::DeclareResponse, ConnectError> {
    let Some(runner) = state.runners.get_mut(&runner_id) else {
        return Err(ConnectError::new(Code::Unauthenticated, "unregistered runner"));
    };
    runner.labels = request.labels;
    runner.version = request.version;
    Ok(wire::DeclareResponse { runner: Some(wire_runner(runner)) })
}

fn wire_runner(runner: &Runner) -> wire::Runner {
    wire::Runner {
        id: runner.id,
        uuid: runner.uuid.clone(),
        token: String::new(),
        name: runner.name.clone(),
        version: runner.version.clone(),
        labels: runner.labels.clone(),
        ephemeral: runner.ephemeral,
        ..Default::default()
    }
}

/// Cuts `text` to at most `max` bytes without splitting a character.
pub(crate) fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}
