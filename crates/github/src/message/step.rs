//! The message's `steps[]` (`ActionStep`, ref §4.2).

use serde_json::Value;

use super::{MessageError, Path, Problem, Token, field, optional_str, required_str};

/// One step as the server sent it; nothing evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionStep {
    /// `id`: the step record GUID (`external_id` everywhere, ref §5.4).
    pub id: String,
    /// `name`: `__run` or the user's id (the step's `ref_name`).
    pub name: Option<String>,
    /// `displayName`, a literal.
    pub display_name: Option<String>,
    /// `displayNameToken`, when the name holds an expression.
    pub display_name_token: Option<Token>,
    /// `contextName`: the step's key in the `steps` context.
    pub context_name: Option<String>,
    /// `condition`: a bare expression (`success()`, `always() && …`).
    pub condition: Option<String>,
    pub continue_on_error: Option<Token>,
    pub timeout_in_minutes: Option<Token>,
    /// `environment`: the step's `env:` mapping.
    pub environment: Option<Token>,
    /// `inputs`: `script`/`shell`/`workingDirectory` of a `run:` step, `with:` of an action.
    pub inputs: Option<Token>,
    pub reference: Reference,
}

/// `reference`: what the step runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// `"script"` or 3: a `run:` step.
    Script,
    /// `"repository"` or 1: `uses: owner/repo[/path]@ref`, or `./path` when the repository type
    /// is `self`.
    Repository { name: String, git_ref: String, repository_type: String, path: String },
    /// `"containerRegistry"` or 2: `uses: docker://image`.
    ContainerRegistry { image: String },
    /// A type the protocol reference does not define, as sent.
    Unknown(String),
}

impl Reference {
    /// The `uses:` text a user wrote, for messages: `owner/repo/path@ref`, `./path`,
    /// `docker://image`.
    pub fn uses(&self) -> String {
        match self {
            Reference::Script => "run".to_owned(),
            Reference::Repository { repository_type, path, .. } if repository_type.eq_ignore_ascii_case("self") => {
                format!("./{}", path.trim_start_matches("./"))
            }
            Reference::Repository { name, git_ref, path, .. } if path.is_empty() => format!("{name}@{git_ref}"),
            Reference::Repository { name, git_ref, path, .. } => format!("{name}/{path}@{git_ref}"),
            Reference::ContainerRegistry { image } => format!("docker://{image}"),
            Reference::Unknown(kind) => format!("a reference of type {kind}"),
        }
    }
}

/// Reads `steps[]`; absent or null is no steps.
pub fn steps(message: &Value) -> Result<Vec<ActionStep>, MessageError> {
    let root = Path::root("steps");
    let items = match field(message, "steps") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(MessageError::wrong_type(&root, "a list", other)),
    };
    items.iter().enumerate().map(|(i, step)| parse(step, &root.index(i))).collect()
}

fn parse(step: &Value, path: &Path<'_>) -> Result<ActionStep, MessageError> {
    if !step.is_object() {
        return Err(MessageError::wrong_type(path, "a step mapping", step));
    }
    let text = |name: &str| optional_str(step, name, path).map(|s| s.map(str::to_owned));
    Ok(ActionStep {
        id: required_str(step, "id", path)?.to_owned(),
        name: text("name")?,
        display_name: text("displayName")?,
        display_name_token: Token::optional(step, "displayNameToken", path)?,
        context_name: text("contextName")?,
        condition: text("condition")?,
        continue_on_error: Token::optional(step, "continueOnError", path)?,
        timeout_in_minutes: Token::optional(step, "timeoutInMinutes", path)?,
        environment: Token::optional(step, "environment", path)?,
        inputs: Token::optional(step, "inputs", path)?,
        reference: reference(step, path)?,
    })
}

fn reference(step: &Value, path: &Path<'_>) -> Result<Reference, MessageError> {
    let path = path.key("reference");
    let reference = match field(step, "reference") {
        Some(reference @ Value::Object(_)) => reference,
        None | Some(Value::Null) => return Err(MessageError::new(&path, Problem::Missing)),
        Some(other) => return Err(MessageError::wrong_type(&path, "a mapping", other)),
    };
    let kind = match field(reference, "type") {
        Some(Value::String(kind)) => kind.to_ascii_lowercase(),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(1) => "repository".to_owned(),
            Some(2) => "containerregistry".to_owned(),
            Some(3) => "script".to_owned(),
            _ => n.to_string(),
        },
        None | Some(Value::Null) => return Err(MessageError::new(&path.key("type"), Problem::Missing)),
        Some(other) => return Err(MessageError::wrong_type(&path.key("type"), "a string or a number", other)),
    };
    let text = |name: &str| optional_str(reference, name, &path).map(|s| s.unwrap_or_default().to_owned());
    Ok(match kind.as_str() {
        "script" => Reference::Script,
        "repository" => Reference::Repository {
            name: text("name")?,
            git_ref: text("ref")?,
            repository_type: text("repositoryType")?,
            path: text("path")?,
        },
        "containerregistry" => Reference::ContainerRegistry { image: text("image")? },
        _ => Reference::Unknown(kind),
    })
}
