//! Checks a `Node` tree against the schema: unknown and duplicate keys, missing required keys,
//! values of the wrong type, and every `${{ }}` — that it parses and uses only the contexts
//! allowed at its key. Messages follow GitHub's parser, so users can search for them.

use std::collections::HashSet;

use super::{Definition, Kind, Schema, schema};
use crate::error::Sink;
use crate::expression::{self, Scanned};
use crate::node::{Entry, Node, Pos, Value};

/// A definition as met at one place: its own allowed contexts plus those of its parents.
#[derive(Clone)]
struct Place<'s> {
    def: &'s Definition,
    allowed: Vec<&'static str>,
}

/// Checks `root` against the definition `name`; problems land in `sink`.
pub(crate) fn check(root: &Node, name: &str, sink: &mut Sink) {
    let schema = schema();
    let Some(def) = schema.get(name) else {
        sink.error(root.pos, format!("internal: no schema definition '{name}'"));
        return;
    };
    let place = Place { def, allowed: def.context.to_vec() };
    Checker { schema, sink, job: None }.value(root, &place);
}

struct Checker<'s, 'k> {
    schema: &'s Schema,
    sink: &'k mut Sink,
    /// The job being checked, named in its diagnostics.
    job: Option<String>,
}

enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(f64),
    String(&'a str),
}

impl<'s> Checker<'s, '_> {
    fn error(&mut self, pos: Pos, reason: impl Into<String>) {
        match &self.job {
            Some(job) => self.sink.job_error(Some(pos), job, reason),
            None => self.sink.error(pos, reason),
        }
    }

    fn child(&mut self, parent: &Place<'s>, name: &str, pos: Pos) -> Option<Place<'s>> {
        let Some(def) = self.schema.get(name) else {
            self.error(pos, format!("internal: no schema definition '{name}'"));
            return None;
        };
        let mut allowed = parent.allowed.clone();
        for c in def.context {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(c)) {
                allowed.push(c);
            }
        }
        Some(Place { def, allowed })
    }

    fn value(&mut self, node: &Node, place: &Place<'s>) {
        match &node.value {
            Value::Seq(items) => self.sequence(node.pos, items, place),
            Value::Map(entries) => self.mapping(node.pos, entries, place),
            Value::Null => self.scalar(node.pos, Scalar::Null, place),
            Value::Bool(b) => self.scalar(node.pos, Scalar::Bool(*b), place),
            Value::Number(n) => self.scalar(node.pos, Scalar::Number(*n), place),
            Value::String(s) => self.string(node.pos, s, place),
        }
    }

    fn string(&mut self, pos: Pos, text: &str, place: &Place<'s>) {
        if !text.contains("${{") {
            return self.scalar(pos, Scalar::String(text), place);
        }
        match expression::scan(text, &place.allowed) {
            Err(reason) => self.error(pos, reason),
            Ok(Scanned::Literal(literal)) => self.scalar(pos, Scalar::String(&literal), place),
            Ok(Scanned::Insert | Scanned::Expression) if place.allowed.is_empty() => {
                self.error(pos, "A template expression is not allowed in this context")
            }
            Ok(_) => {}
        }
    }

    fn scalar(&mut self, pos: Pos, scalar: Scalar<'_>, place: &Place<'s>) {
        let mut defs = Vec::new();
        self.scalar_defs(place.def, &mut defs, 0);
        if defs.iter().any(|d| matches_scalar(d, &scalar)) {
            return;
        }
        let text = match scalar {
            Scalar::Null => String::new(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Number(n) => crate::node::number_text(n),
            Scalar::String(s) => s.to_string(),
        };
        if !matches!(scalar, Scalar::String(_)) && defs.iter().any(|d| matches_scalar(d, &Scalar::String(&text))) {
            return;
        }
        self.error(pos, format!("Unexpected value '{text}'"));
    }

    fn scalar_defs(&self, def: &'s Definition, out: &mut Vec<&'s Definition>, depth: usize) {
        match &def.kind {
            Kind::OneOf(members) if depth < 8 => {
                for m in members {
                    if let Some(d) = self.schema.get(m) {
                        self.scalar_defs(d, out, depth + 1);
                    }
                }
            }
            Kind::Null | Kind::Boolean | Kind::Number | Kind::String { .. } | Kind::Constants(_) => out.push(def),
            _ => {}
        }
    }

    /// The definitions of one shape that `def` is or directly offers.
    fn of_shape(&self, def: &'s Definition, want: fn(&Kind) -> bool) -> Vec<&'s Definition> {
        match &def.kind {
            Kind::OneOf(members) => {
                members.iter().filter_map(|m| self.schema.get(m)).filter(|d| want(&d.kind)).collect()
            }
            k if want(k) => vec![def],
            _ => Vec::new(),
        }
    }

    fn sequence(&mut self, pos: Pos, items: &[Node], place: &Place<'s>) {
        let seqs = self.of_shape(place.def, |k| matches!(k, Kind::Sequence { .. }));
        let Some(Kind::Sequence { item }) = seqs.first().map(|d| &d.kind) else {
            self.error(pos, "A sequence was not expected");
            return;
        };
        let Some(item_place) = self.child(place, item, pos) else { return };
        for node in items {
            self.value(node, &item_place);
        }
    }

    fn mapping(&mut self, pos: Pos, entries: &[Entry], place: &Place<'s>) {
        let mut maps = self.of_shape(place.def, |k| matches!(k, Kind::Mapping { .. }));
        if maps.is_empty() {
            self.error(pos, "A mapping was not expected");
            return;
        }
        let first_loose = match &maps[0].kind {
            Kind::Mapping { loose, .. } => loose.clone(),
            _ => None,
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut expression_key = false;
        for entry in entries {
            if entry.key.contains("${{") {
                expression_key = true;
                self.expression_key(entry, place);
                continue;
            }
            if !entry.key.is_empty() && !seen.insert(entry.key.to_uppercase()) {
                self.error(entry.key_pos, format!("'{}' is already defined", entry.key));
                continue;
            }
            let matched: Vec<bool> = maps.iter().map(|m| prop_type(m, &entry.key).is_some()).collect();
            if let Some(ty) = maps.iter().find_map(|m| prop_type(m, &entry.key)) {
                let mut i = 0;
                maps.retain(|_| {
                    i += 1;
                    matched[i - 1]
                });
                if let Some(p) = self.child(place, &ty, entry.key_pos) {
                    self.value(&entry.value, &p);
                }
                continue;
            }
            if let Some((key_ty, value_ty)) = &first_loose {
                if let Some(k) = self.child(place, key_ty, entry.key_pos) {
                    self.string(entry.key_pos, &entry.key, &k);
                }
                if let Some(v) = self.child(place, value_ty, entry.key_pos) {
                    let is_job = value_ty == "job";
                    if is_job {
                        self.job = Some(entry.key.clone());
                    }
                    self.value(&entry.value, &v);
                    if is_job {
                        self.job = None;
                    }
                }
                continue;
            }
            self.error(entry.key_pos, format!("Unexpected value '{}'", entry.key));
        }
        if maps.len() > 1 {
            let mut count = std::collections::HashMap::<&str, usize>::new();
            for m in &maps {
                if let Kind::Mapping { props, .. } = &m.kind {
                    for p in props {
                        *count.entry(p.name.as_str()).or_default() += 1;
                    }
                }
            }
            let mut unique: Vec<&str> = count.into_iter().filter(|(_, n)| *n == 1).map(|(k, _)| k).collect();
            unique.sort_unstable();
            self.error(
                pos,
                format!(
                    "There's not enough info to determine what you meant. Add one of these properties: {}",
                    unique.join(", ")
                ),
            );
        } else if let (Some(Kind::Mapping { props, .. }), false) = (maps.first().map(|m| &m.kind), expression_key) {
            for p in props.iter().filter(|p| p.required) {
                if !seen.contains(&p.name.to_uppercase()) {
                    self.error(pos, format!("Required property is missing: {}", p.name));
                }
            }
        }
    }

    fn expression_key(&mut self, entry: &Entry, place: &Place<'s>) {
        if place.allowed.is_empty() {
            self.error(entry.key_pos, "A template expression is not allowed in this context");
            return;
        }
        if let Err(reason) = expression::scan(&entry.key, &place.allowed) {
            self.error(entry.key_pos, reason);
        }
        if let Some(any) = self.child(place, "any", entry.key_pos) {
            self.value(&entry.value, &any);
        }
    }
}

fn prop_type(def: &Definition, key: &str) -> Option<String> {
    match &def.kind {
        Kind::Mapping { props, .. } => props.iter().find(|p| p.name == key).map(|p| p.ty.clone()),
        _ => None,
    }
}

fn matches_scalar(def: &Definition, scalar: &Scalar<'_>) -> bool {
    match (&def.kind, scalar) {
        (Kind::Null, Scalar::Null) => true,
        (Kind::Boolean, Scalar::Bool(_)) => true,
        (Kind::Number, Scalar::Number(_)) => true,
        (Kind::String { non_empty }, Scalar::String(s)) => !non_empty || !s.is_empty(),
        (Kind::Constants(values), Scalar::String(s)) => values.contains(s),
        _ => false,
    }
}
