//! `steps:` → `StepCommand`s: ids (explicit, then generated as GitHub does), `run` or the
//! built-in checkout, and every other field as a `Template`.

use contract::{StepCommand, StepKind, Template};

use crate::error::Sink;
use crate::expression;
use crate::identifier::{self, StepIds};
use crate::node::{Node, Pos};
use crate::schema;

pub(super) fn steps(job: &str, node: &Node, unsupported: &mut Vec<(Pos, String)>, sink: &mut Sink) -> Vec<StepCommand> {
    let items = node.as_seq().unwrap_or_default();
    let mut ids = StepIds::default();
    // Explicit ids are known before any is generated, so `__run` never takes a written id.
    let explicit: Vec<Option<String>> = items
        .iter()
        .map(|item| {
            let id = item.get("id")?;
            let text = id.scalar_text()?;
            match ids.add_known(&text) {
                Ok(()) => Some(text),
                Err(reason) => {
                    sink.job_error(Some(id.pos), job, reason);
                    None
                }
            }
        })
        .collect();

    let mut out = Vec::new();
    for (index, (item, explicit)) in items.iter().zip(explicit).enumerate() {
        let Ok(index_u32) = u32::try_from(index) else { break };
        let mut step = StepCommand::run(index_u32, String::new(), Template::default());
        step.run = None;
        let mut field = |n: &Node, as_text: bool| match expression::template(n, as_text) {
            Ok(t) => Some(t),
            Err(reason) => {
                sink.job_error(Some(n.pos), job, reason);
                None
            }
        };
        step.name = item.get("name").and_then(|n| field(n, true));
        step.working_directory = item.get("working-directory").and_then(|n| field(n, true));
        step.continue_on_error = item.get("continue-on-error").and_then(|n| field(n, false));
        step.timeout_minutes = item.get("timeout-minutes").and_then(|n| field(n, false));
        step.shell = item.get("shell").and_then(Node::scalar_text);
        step.env = item.get("env").map(|e| super::templates(e, sink)).unwrap_or_default();
        if let Some(cond) = item.get("if") {
            match expression::condition(cond, schema::STEP_IF) {
                Ok(c) => step.if_ = c,
                Err(reason) => sink.job_error(Some(cond.pos), job, reason),
            }
        }

        let generated_base;
        if let Some(run) = item.get("run") {
            step.run = match expression::template(run, true) {
                Ok(t) => Some(t),
                Err(reason) => {
                    sink.job_error(Some(run.pos), job, reason);
                    None
                }
            };
            generated_base = "run".to_string();
        } else if let Some(uses) = item.get("uses") {
            let action = uses.scalar_text().unwrap_or_default();
            generated_base = identifier::action_base(&action);
            if is_checkout(&action) {
                step.kind = StepKind::Checkout;
                step.uses = Some(action.clone());
                step.with = item.get("with").map(|w| super::templates(w, sink)).unwrap_or_default();
            } else {
                let which = match item.get("name").and_then(Node::as_str).filter(|n| !n.contains("${{")) {
                    Some(name) => format!("step '{name}'"),
                    None => format!("step {}", index + 1),
                };
                unsupported.push((
                    uses.pos,
                    format!("{which} uses '{action}': only actions/checkout is supported; see docs/faq.md"),
                ));
            }
        } else {
            generated_base = "run".to_string();
        }
        step.id = explicit.unwrap_or_else(|| ids.generate(&generated_base));
        out.push(step);
    }
    out
}

/// `actions/checkout@<ref>`, also as Forgejo's absolute form `https://host/actions/checkout@<ref>`.
fn is_checkout(uses: &str) -> bool {
    let Some((path, git_ref)) = uses.rsplit_once('@') else { return false };
    if git_ref.is_empty() {
        return false;
    }
    let path = path.strip_prefix("https://").map_or(path, |rest| rest.split_once('/').map_or("", |(_, p)| p));
    path.eq_ignore_ascii_case("actions/checkout")
}
