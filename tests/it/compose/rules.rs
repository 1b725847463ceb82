//! The rules `compose.yml` is held to, each a function returning the problems it finds.

use std::collections::BTreeSet;

use serde_yaml_ng::{Mapping, Value};

use super::workspace;

/// What each daemon exits 2 without (brief §3.6): the broker and the bus key.
pub(super) const REQUIRED_BY_DAEMONS: [&str; 2] = ["SOLSTICE_AMQP_URL", "SOLSTICE_BUS_KEY"];

/// The binaries that are daemons on the bus and so need [`REQUIRED_BY_DAEMONS`].
pub(super) const DAEMONS: [&str; 3] = ["orchestrator", "forgejo-runner", "github-runner"];

/// Top-level keys of the Compose Specification (plus `x-` extensions).
pub(super) const TOP_LEVEL: [&str; 7] = ["name", "services", "networks", "volumes", "configs", "secrets", "include"];

/// The healthcheck keys of the Compose Specification.
pub(super) const HEALTHCHECK: [&str; 7] =
    ["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"];

/// The conditions `depends_on` may wait for.
pub(super) const CONDITIONS: [&str; 3] = ["service_started", "service_healthy", "service_completed_successfully"];

pub(super) fn services(doc: &Mapping) -> Vec<(String, &Mapping)> {
    let Some(Value::Mapping(services)) = doc.get("services") else { return Vec::new() };
    services.iter().filter_map(|(name, service)| Some((name.as_str()?.to_owned(), service.as_mapping()?))).collect()
}

pub(super) fn text<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A service's environment as name → value, from the mapping or the `NAME=value` list form.
pub(super) fn environment(service: &Mapping) -> Vec<(String, String)> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::new(),
                };
                Some((k.as_str()?.to_owned(), value))
            })
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (item.to_owned(), String::new()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The binary a service runs: the first word of its entrypoint.
pub(super) fn binary(service: &Mapping) -> Option<String> {
    match service.get("entrypoint")? {
        Value::Sequence(words) => words.first()?.as_str().map(str::to_owned),
        Value::String(line) => line.split_whitespace().next().map(str::to_owned),
        _ => None,
    }
}

/// A Compose duration: `1m30s`, `10s`, `1.5s`, `500ms`, `2h`.
pub(super) fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "us", "h", "m", "s"].into_iter().find(|unit| rest.starts_with(unit));
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}

/// Top-level keys, each service's image or build, its healthcheck.
pub(super) fn shape_problems(doc: &Mapping) -> Vec<String> {
    let mut problems = Vec::new();
    for key in doc.keys().filter_map(Value::as_str) {
        if !TOP_LEVEL.contains(&key) && !key.starts_with("x-") {
            problems.push(format!("top-level key {key:?} is not in the Compose Specification"));
        }
    }
    if services(doc).is_empty() {
        problems.push("no services".to_owned());
    }
    for (name, service) in services(doc) {
        match (service.get("image"), service.get("build")) {
            (None, None) => problems.push(format!("{name}: neither image nor build")),
            (_, Some(build)) => {
                let (context, dockerfile) = match build {
                    Value::String(context) => (context.as_str(), "Dockerfile"),
                    Value::Mapping(build) => {
                        (text(build, "context").unwrap_or("."), text(build, "dockerfile").unwrap_or("Dockerfile"))
                    }
                    _ => ("", ""),
                };
                if !workspace::root().join(context).join(dockerfile).is_file() {
                    problems.push(format!("{name}: build {context}/{dockerfile} does not exist"));
                }
            }
            (Some(_), None) => {}
        }
        if let Some(check) = service.get("healthcheck") {
            let Some(check) = check.as_mapping() else {
                problems.push(format!("{name}: healthcheck is not a mapping"));
                continue;
            };
            for key in check.keys().filter_map(Value::as_str) {
                if !HEALTHCHECK.contains(&key) {
                    problems.push(format!("{name}: healthcheck key {key:?} is not in the Compose Specification"));
                }
            }
            match check.get("test") {
                Some(Value::Sequence(words)) => match words.first().and_then(Value::as_str) {
                    Some("CMD" | "CMD-SHELL") if words.len() > 1 => {}
                    Some("NONE") => {}
                    _ => problems.push(format!("{name}: healthcheck test must start with CMD, CMD-SHELL or NONE")),
                },
                Some(Value::String(_)) => {}
                _ => problems.push(format!("{name}: healthcheck without a test")),
            }
            for key in ["interval", "timeout", "start_period", "start_interval"] {
                if let Some(value) = check.get(key)
                    && !value.as_str().is_some_and(is_duration)
                {
                    problems.push(format!("{name}: healthcheck {key} {value:?} is not a duration"));
                }
            }
            if check.get("retries").is_some_and(|r| r.as_u64().is_none()) {
                problems.push(format!("{name}: healthcheck retries is not a number"));
            }
        }
    }
    problems
}

/// Named volumes a service mounts are declared at the top level, and every declared one is used.
pub(super) fn volume_problems(doc: &Mapping) -> Vec<String> {
    let declared: BTreeSet<String> = match doc.get("volumes") {
        Some(Value::Mapping(volumes)) => volumes.keys().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => BTreeSet::new(),
    };
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        for mount in service.get("volumes").and_then(Value::as_sequence).into_iter().flatten() {
            let source = match mount {
                Value::String(short) => short.split(':').next().unwrap_or_default().to_owned(),
                Value::Mapping(long) if text(long, "type") == Some("volume") => {
                    text(long, "source").unwrap_or_default().to_owned()
                }
                _ => continue,
            };
            // Bind mounts start with a path; anonymous volumes have no source.
            if source.starts_with(['.', '/', '~', '$']) || source.is_empty() {
                continue;
            }
            if !declared.contains(&source) {
                problems.push(format!("{name}: volume {source:?} is not declared under volumes:"));
            }
            used.insert(source);
        }
    }
    for unused in declared.difference(&used) {
        problems.push(format!("volume {unused:?} is declared but no service mounts it"));
    }
    problems
}

/// `depends_on` names existing services, with a condition they can meet.
pub(super) fn dependency_problems(doc: &Mapping) -> Vec<String> {
    let all = services(doc);
    let find = |wanted: &str| all.iter().find(|(name, _)| name == wanted).map(|(_, service)| *service);
    let mut problems = Vec::new();
    for (name, service) in &all {
        let Some(depends) = service.get("depends_on") else { continue };
        let Some(depends) = depends.as_mapping() else {
            problems.push(format!("{name}: depends_on must be a mapping with a condition per service"));
            continue;
        };
        for (target, how) in depends {
            let target = target.as_str().unwrap_or_default();
            let condition = how.as_mapping().and_then(|how| text(how, "condition"));
            let Some(dependency) = find(target) else {
                problems.push(format!("{name}: depends on {target:?}, which is not a service"));
                continue;
            };
            match condition {
                Some(c) if CONDITIONS.contains(&c) => {}
                other => problems.push(format!("{name}: depends on {target} with condition {other:?}")),
            }
            let healthy = dependency
                .get("healthcheck")
                .and_then(Value::as_mapping)
                .is_some_and(|check| check.get("disable") != Some(&Value::Bool(true)));
            if condition == Some("service_healthy") && !healthy {
                problems.push(format!("{name}: waits for {target} to be healthy, but it has no healthcheck"));
            }
            // A service outside any profile always starts: it cannot wait for one that may not.
            if service.get("profiles").is_none() && dependency.get("profiles").is_some() {
                problems.push(format!("{name}: depends on {target}, which starts only with a profile"));
            }
        }
    }
    problems
}

/// `SOLSTICE_*` names none of our binaries reads.
pub(super) fn unknown_env_problems(doc: &Mapping, known: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        for (variable, _) in environment(service) {
            if variable.starts_with("SOLSTICE_") && !known.contains(&variable) {
                problems.push(format!("{name}: {variable} is read by no binary (crates/*/src has no \"{variable}\")"));
            }
        }
    }
    problems
}

/// Each daemon runs a workspace binary and gets the variables it exits 2 without; the broker and
/// database URLs name services of this file.
pub(super) fn daemon_problems(doc: &Mapping, bins: &BTreeSet<String>) -> Vec<String> {
    let names: BTreeSet<String> = services(doc).into_iter().map(|(name, _)| name).collect();
    let mut problems = Vec::new();
    for (name, service) in services(doc) {
        let Some(bin) = binary(service) else {
            if service.get("build").is_some() {
                problems.push(format!("{name}: built from our Dockerfile but names no binary as entrypoint"));
            }
            continue;
        };
        if !bins.contains(&bin) {
            problems.push(format!("{name}: runs {bin:?}, which the workspace does not build"));
        }
        if !DAEMONS.contains(&bin.as_str()) {
            continue;
        }
        let env = environment(service);
        for required in REQUIRED_BY_DAEMONS {
            match env.iter().find(|(k, _)| k == required) {
                Some((_, value)) if !value.trim().is_empty() && !value.contains(":-}") => {}
                _ => problems.push(format!("{name}: {bin} exits 2 without {required}")),
            }
        }
        for (variable, value) in &env {
            if !matches!(variable.as_str(), "SOLSTICE_AMQP_URL" | "SOLSTICE_DATABASE_URL") {
                continue;
            }
            let host = value.split_once('@').map(|(_, rest)| rest).and_then(|rest| rest.split([':', '/']).next());
            match host {
                Some(host) if names.contains(host) => {}
                _ => problems.push(format!("{name}: {variable} does not name a service of this file as its host")),
            }
        }
        // The registration, the orchestrator's id and its VMs' state must outlive the container.
        let state_dir = env.iter().find(|(k, _)| k == "SOLSTICE_STATE_DIR").map(|(_, v)| v.as_str());
        match state_dir {
            Some(dir) if named_volume_targets(service).iter().any(|target| target == dir) => {}
            Some(dir) => problems.push(format!("{name}: no named volume is mounted at SOLSTICE_STATE_DIR {dir}")),
            None => problems.push(format!("{name}: {bin} needs SOLSTICE_STATE_DIR on a volume")),
        }
    }
    problems
}

/// Where a service mounts named volumes (short `name:/path[:mode]` or long syntax).
fn named_volume_targets(service: &Mapping) -> Vec<String> {
    let mut targets = Vec::new();
    for mount in service.get("volumes").and_then(Value::as_sequence).into_iter().flatten() {
        match mount {
            Value::String(short) => {
                let mut parts = short.split(':');
                if let (Some(source), Some(target)) = (parts.next(), parts.next())
                    && !source.starts_with(['.', '/', '~', '$'])
                {
                    targets.push(target.to_owned());
                }
            }
            Value::Mapping(long) if text(long, "type") == Some("volume") => {
                targets.extend(text(long, "target").map(str::to_owned));
            }
            _ => {}
        }
    }
    targets
}

pub(super) fn all_problems(doc: &Mapping) -> Vec<String> {
    let known = workspace::solstice_env_names();
    let bins = workspace::binaries();
    let mut problems = shape_problems(doc);
    problems.extend(volume_problems(doc));
    problems.extend(dependency_problems(doc));
    problems.extend(unknown_env_problems(doc, &known));
    problems.extend(daemon_problems(doc, &bins));
    problems
}
