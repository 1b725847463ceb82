//! The workflow schema: which keys exist where, what type each value has, and which contexts an
//! expression may use at each key — the rules of GitHub's "Workflow syntax for GitHub Actions",
//! written down as data (`schema/definitions.rs`) and enforced by one generic checker
//! (`schema/check.rs`).

mod check;
mod definitions;

use std::collections::HashMap;
use std::sync::OnceLock;

pub(crate) use check::check;
pub(crate) use definitions::{JOB_IF, STEP_IF};

/// What a value at some place in the file may be.
#[derive(Debug)]
pub(crate) enum Kind {
    Null,
    Boolean,
    Number,
    /// A string (and, after coercion, a number or boolean written where a string is expected).
    String {
        non_empty: bool,
    },
    /// One of these exact strings.
    Constants(&'static [&'static str]),
    Sequence {
        item: String,
    },
    Mapping {
        props: Vec<Prop>,
        /// Key and value definitions for keys that are not among `props`.
        loose: Option<(String, String)>,
    },
    OneOf(Vec<String>),
}

#[derive(Debug)]
pub(crate) struct Prop {
    pub name: String,
    pub ty: String,
    pub required: bool,
}

#[derive(Debug)]
pub(crate) struct Definition {
    pub kind: Kind,
    /// Named contexts and functions (`always(0,0)`) an expression may use here, added to those
    /// of the enclosing definition.
    pub context: &'static [&'static str],
}

pub(crate) struct Schema {
    definitions: HashMap<String, Definition>,
}

impl Schema {
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }
}

/// The schema, built once.
pub(crate) fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema { definitions: definitions::all() })
}

/// The definition the whole file is read with.
pub(crate) const ROOT: &str = "workflow-root";
