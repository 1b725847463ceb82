//! Matrix expansion with GitHub's semantics: the cartesian product of the vectors (first key
//! outermost), then `exclude` (partial matches remove), then `include`: an entry is merged into
//! every original combination whose original values it does not change (values added by an
//! earlier include may be overwritten), and becomes a combination of its own when it fits none.

use indexmap::IndexMap;
use serde_json::Value as Json;

/// GitHub's limit on the jobs one matrix may produce.
pub(crate) const MAX_COMBINATIONS: usize = 256;

pub(crate) type Combination = IndexMap<String, Json>;

/// Expands an evaluated `matrix:` object.
pub(crate) fn combinations(matrix: &Json) -> Result<Vec<Combination>, String> {
    let Json::Object(map) = matrix else {
        return Err("the matrix must be a mapping".into());
    };
    let mut vectors: Vec<(&str, &Vec<Json>)> = Vec::new();
    let mut include: Vec<&serde_json::Map<String, Json>> = Vec::new();
    let mut exclude: Vec<&serde_json::Map<String, Json>> = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "include" | "exclude" => {
                let target = if key == "include" { &mut include } else { &mut exclude };
                match value {
                    Json::Null => {}
                    Json::Array(items) => {
                        for item in items {
                            let Json::Object(entry) = item else {
                                return Err(format!("each matrix '{key}' entry must be a mapping"));
                            };
                            target.push(entry);
                        }
                    }
                    _ => return Err(format!("matrix '{key}' must be a sequence of mappings")),
                }
            }
            _ => match value {
                Json::Array(items) if items.is_empty() => {
                    return Err(format!("Matrix vector '{key}' does not contain any values"));
                }
                Json::Array(items) => vectors.push((key, items)),
                _ => return Err(format!("Matrix vector '{key}' must be a sequence")),
            },
        }
    }

    let mut product: Vec<Combination> = if vectors.is_empty() { Vec::new() } else { vec![Combination::new()] };
    for (key, values) in &vectors {
        let mut next = Vec::with_capacity(product.len() * values.len());
        for combination in &product {
            for value in values.iter() {
                let mut c = combination.clone();
                c.insert((*key).to_string(), normalize(value));
                next.push(c);
            }
        }
        if next.len() > MAX_COMBINATIONS * 16 {
            return Err(format!("the matrix produces more than {MAX_COMBINATIONS} jobs"));
        }
        product = next;
    }

    product.retain(|c| !exclude.iter().any(|e| e.iter().all(|(k, v)| c.get(k).is_some_and(|cv| *cv == normalize(v)))));

    let originals: Vec<&str> = vectors.iter().map(|(k, _)| *k).collect();
    let base = product.len();
    for entry in include {
        let mut merged = false;
        for combination in product.iter_mut().take(base) {
            let fits = entry
                .iter()
                .filter(|(k, _)| originals.contains(&k.as_str()))
                .all(|(k, v)| combination.get(k).is_some_and(|cv| *cv == normalize(v)));
            if fits {
                for (k, v) in entry {
                    combination.insert(k.clone(), normalize(v));
                }
                merged = true;
            }
        }
        if !merged {
            product.push(entry.iter().map(|(k, v)| (k.clone(), normalize(v))).collect());
        }
    }

    if product.is_empty() {
        return Err(
            "the matrix expands to no job: every combination is excluded, or it has no vectors and no include".into()
        );
    }
    if product.len() > MAX_COMBINATIONS {
        return Err(format!("the matrix produces {} jobs; at most {MAX_COMBINATIONS} are allowed", product.len()));
    }
    Ok(product)
}

/// Integral numbers as integers, so `2` from YAML and `2` from `fromJSON` compare equal.
pub(crate) fn normalize(value: &Json) -> Json {
    match value {
        Json::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => crate::node::number_json(f),
            _ => value.clone(),
        },
        Json::Array(items) => Json::Array(items.iter().map(normalize).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

/// The values of a combination as GitHub lists them in a job's display name: `build (a, 1)`.
pub(crate) fn display_values(combination: &Combination) -> Vec<String> {
    let mut out = Vec::new();
    for value in combination.values() {
        flatten(value, &mut out);
    }
    out
}

fn flatten(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Null => out.push(String::new()),
        Json::Bool(b) => out.push(b.to_string()),
        Json::Number(n) => out.push(n.as_f64().map_or_else(|| n.to_string(), crate::node::number_text)),
        Json::String(s) => out.push(s.clone()),
        Json::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Json::Object(map) => map.values().for_each(|v| flatten(v, out)),
    }
}
