//! Checks GitHub makes after its schema: `on:` inputs and cron lines, container images.

use crate::error::Sink;
use crate::node::{Node, Value};

pub(super) fn check(on: &Node, sink: &mut Sink) {
    for entry in on.as_map().unwrap_or_default() {
        match entry.key.as_str() {
            "workflow_dispatch" | "workflow_call" => {
                let Some(inputs) = entry.value.get("inputs") else { continue };
                for input in inputs.as_map().unwrap_or_default() {
                    input_definition(&input.value, sink);
                }
            }
            "schedule" => {
                for item in entry.value.as_seq().unwrap_or_default() {
                    if let Some(cron) = item.get("cron")
                        && let Some(text) = cron.as_str()
                        && !valid_cron(text)
                    {
                        sink.error(
                            cron.pos,
                            "Invalid cron expression. Expected format: '* * * * *' (minute hour day month weekday)",
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// A `default` must have the input's type; `options` go with `type: choice` and only with it.
fn input_definition(input: &Node, sink: &mut Sink) {
    let ty = input.get("type").and_then(Node::as_str).unwrap_or("string");
    if let Some(default) = input.get("default")
        && !default.has_expression()
    {
        let fits = match ty {
            "boolean" => matches!(default.value, Value::Bool(_)),
            "string" | "choice" | "environment" => matches!(default.value, Value::String(_)),
            _ => true,
        };
        if !fits {
            sink.error(default.pos, format!("The default value of an input of type '{ty}' must be a {ty}"));
        }
    }
    let has_options = input.get("options").and_then(Node::as_seq).is_some_and(|o| !o.is_empty());
    if ty == "choice" && !has_options {
        sink.error(input.pos, "Missing 'options' for choice input");
    } else if ty != "choice" && input.get("options").is_some() {
        sink.error(input.pos, "Input type is not 'choice', but 'options' is defined");
    }
}

/// A container (job or service) needs an image, unless expressions decide it at run time.
pub(super) fn container_image(container: &Node, sink: &mut Sink) {
    let mut strings = Vec::new();
    container.walk_strings(&mut strings);
    if strings.iter().any(|(s, _)| s.contains("${{")) || container.as_map().is_none() {
        return;
    }
    if container.get("image").is_none() {
        sink.error(container.pos, "Container image cannot be empty");
    }
}

/// Five fields: minute, hour, day of month, month, day of week; each a list of `*`, values or
/// ranges, optionally with a `/step`.
fn valid_cron(text: &str) -> bool {
    const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let fields: Vec<&str> = text.split_whitespace().collect();
    let limits: [(u32, u32, &[&str]); 5] = [(0, 59, &[]), (0, 23, &[]), (1, 31, &[]), (1, 12, MONTHS), (0, 6, DAYS)];
    fields.len() == 5 && fields.iter().zip(limits).all(|(field, (min, max, names))| cron_field(field, min, max, names))
}

fn cron_field(field: &str, min: u32, max: u32, names: &[&str]) -> bool {
    let value = |s: &str| -> Option<u32> {
        if let Ok(n) = s.parse::<u32>() {
            return (min..=max).contains(&n).then_some(n);
        }
        let i = names.iter().position(|n| n.eq_ignore_ascii_case(s))?;
        u32::try_from(i).ok().map(|i| i + min)
    };
    field.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step_ok = step.is_none_or(|s| s.parse::<u32>().is_ok_and(|n| n > 0));
        let range_ok = range == "*"
            || match range.split_once('-') {
                Some((a, b)) => matches!((value(a), value(b)), (Some(a), Some(b)) if a <= b),
                None => value(range).is_some(),
            };
        step_ok && range_ok
    })
}

#[cfg(test)]
mod tests {
    use super::valid_cron;

    #[test]
    fn cron_lines() {
        assert!(valid_cron("* * * * 5"));
        assert!(valid_cron("*/15 0-6 1,15 jan-mar mon"));
        assert!(!valid_cron("* * * *"));
        assert!(!valid_cron("61 * * * *"));
    }
}
