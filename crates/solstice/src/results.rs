//! Results of finished jobs, as the jobs that need them see them (`needs.<job>`).

use std::collections::{BTreeMap, HashMap};

use contract::{JobRequest, JobResult, Template};
use expr::{Context, MapContext};
use serde_json::{Value as Json, json};

/// What one job (all its matrix combinations) came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobOutcome {
    pub result: JobResult,
    pub outputs: BTreeMap<String, String>,
}

/// One finished combination.
#[derive(Debug, Clone)]
pub(crate) struct Combination {
    pub result: JobResult,
    pub outputs: BTreeMap<String, String>,
    /// Job-level `continue-on-error` evaluated for this combination.
    pub continue_on_error: bool,
}

impl Combination {
    /// A combination that never started.
    pub fn cancelled(continue_on_error: bool) -> Self {
        Combination { result: JobResult::Cancelled, outputs: BTreeMap::new(), continue_on_error }
    }

    /// Whether this combination fails the run: a failure or cancel not excused by
    /// `continue-on-error`.
    pub fn fails_run(&self) -> bool {
        match self.result {
            JobResult::Failure | JobResult::Cancelled => !self.continue_on_error,
            JobResult::Success | JobResult::Skipped => false,
        }
    }
}

/// A matrix job's result as `needs` shows it: failure if a combination failed (a failure under
/// `continue-on-error` counts as success), else cancelled if one was, else success if one
/// succeeded, else skipped. Outputs: later combinations overwrite earlier non-empty values, as
/// on GitHub where the last one to set an output wins.
pub(crate) fn combine(combinations: &[Combination]) -> JobOutcome {
    let results: Vec<JobResult> = combinations
        .iter()
        .map(|c| if c.result == JobResult::Failure && c.continue_on_error { JobResult::Success } else { c.result })
        .collect();
    let result = [JobResult::Failure, JobResult::Cancelled, JobResult::Success]
        .into_iter()
        .find(|wanted| results.contains(wanted))
        .unwrap_or(JobResult::Skipped);
    let mut outputs = BTreeMap::new();
    for combination in combinations {
        for (name, value) in &combination.outputs {
            if !value.is_empty() || !outputs.contains_key(name) {
                outputs.insert(name.clone(), value.clone());
            }
        }
    }
    JobOutcome { result, outputs }
}

/// `needs` for a job: each needed job's result and outputs. A need that did not run in this
/// invocation (`--job`) is taken as successful with no outputs.
pub(crate) fn needs_context(needs: &[String], finished: &HashMap<String, JobOutcome>) -> Json {
    let mut map = serde_json::Map::new();
    for need in needs {
        let entry = match finished.get(need) {
            Some(outcome) => json!({ "result": outcome.result.as_str(), "outputs": outcome.outputs }),
            None => json!({ "result": "success", "outputs": {} }),
        };
        map.insert(need.clone(), entry);
    }
    Json::Object(map)
}

/// Job-level `continue-on-error`, evaluated with the routing contexts the request carries
/// (`matrix.experimental` is the usual expression).
pub(crate) fn continue_on_error(request: &JobRequest) -> bool {
    match &request.continue_on_error {
        None => false,
        Some(Template::Literal(value)) => truthy_literal(value),
        Some(Template::Expr(source)) => {
            let contexts = &request.contexts;
            let mut ctx = MapContext::default();
            for (name, value) in [
                ("github", &contexts.github),
                ("vars", &contexts.vars),
                ("needs", &contexts.needs),
                ("matrix", &contexts.matrix),
                ("strategy", &contexts.strategy),
                ("inputs", &contexts.inputs),
            ] {
                ctx.values.insert(name.to_owned(), expr::Value::from(value));
            }
            match expr::eval_str(source, &ctx as &dyn Context) {
                Ok(value) => value.is_truthy(),
                Err(error) => {
                    tracing::warn!(job = %request.name, "continue-on-error could not be evaluated: {}", error.message);
                    false
                }
            }
        }
    }
}

fn truthy_literal(value: &Json) -> bool {
    match value {
        Json::Bool(b) => *b,
        Json::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn combo(result: JobResult, outputs: &[(&str, &str)], continue_on_error: bool) -> Combination {
        let outputs = outputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Combination { result, outputs, continue_on_error }
    }

    #[test]
    fn a_matrix_result_is_its_worst_combination() {
        use contract::Outcome::*;
        for (results, expected) in [
            (vec![Success, Success], Success),
            (vec![Success, Failure], Failure),
            (vec![Cancelled, Success], Cancelled),
            (vec![Failure, Cancelled], Failure),
            (vec![Skipped, Skipped], Skipped),
            (vec![Skipped, Success], Success),
        ] {
            let combos: Vec<_> = results.iter().map(|r| combo(*r, &[], false)).collect();
            assert_eq!(combine(&combos).result, expected, "{results:?}");
        }
        assert_eq!(combine(&[combo(Failure, &[], true)]).result, Success);
    }

    #[test]
    fn the_last_non_empty_output_wins() {
        let combos = [
            combo(JobResult::Success, &[("a", "1"), ("b", "x")], false),
            combo(JobResult::Success, &[("a", "2"), ("b", "")], false),
        ];
        let outputs = combine(&combos).outputs;
        assert_eq!(outputs["a"], "2");
        assert_eq!(outputs["b"], "x");
    }
}
