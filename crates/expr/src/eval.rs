//! Evaluation of a parsed expression. The recursion follows the tree, whose depth the parser
//! bounds; every result is charged to a [`Memory`] so that no expression can make us allocate
//! without bound.

pub(crate) mod val;

use std::cmp::Ordering;
use std::rc::Rc;

use crate::ast::{CompareOp, Index, LogicalOp, Node};
use crate::functions::{self, Function};
use crate::memory::{self, Memory};
use crate::{Context, EvalError, Expr, JobStatus, Value};
use val::Val;

pub(crate) fn evaluate(expr: &Expr, ctx: &dyn Context) -> Result<Value, EvalError> {
    let Some(root) = &expr.root else {
        return Ok(Value::Null);
    };
    let mut evaluator = Evaluator { ctx, source: &expr.source, named: Vec::new(), memory: Memory::default() };
    Ok(evaluator.eval(root, 0)?.to_value())
}

struct Evaluator<'a> {
    ctx: &'a dyn Context,
    source: &'a str,
    /// Named contexts already fetched, so that every reference to one sees the same objects
    /// (identity is what `==` compares for objects and arrays).
    named: Vec<(String, Val)>,
    memory: Memory,
}

impl Evaluator<'_> {
    fn eval(&mut self, node: &Node, depth: usize) -> Result<Val, EvalError> {
        let result = self.eval_node(node, depth)?;
        let bytes = match &result {
            Val::String(s) => memory::string_bytes(s),
            _ => memory::object_bytes(),
        };
        self.memory.charge(depth, bytes)?;
        Ok(result)
    }

    fn eval_node(&mut self, node: &Node, depth: usize) -> Result<Val, EvalError> {
        let below = depth + 1;
        Ok(match node {
            Node::Null => Val::Null,
            Node::Bool(b) => Val::Bool(*b),
            Node::Number(n) => Val::Number(*n),
            Node::String(s) => Val::string(s.as_str()),
            Node::Named { name, position } => self.named(name, *position)?,
            Node::Index { target, index } => {
                let target = self.eval(target, below)?;
                match index {
                    Index::Star => star(&target),
                    Index::Value(index) => {
                        let index = self.eval(index, below)?;
                        lookup(&target, &Key::new(&index))
                    }
                }
            }
            Node::Not(inner) => Val::Bool(!self.eval(inner, below)?.is_truthy()),
            Node::Compare { op, left, right } => {
                let left = self.eval(left, below)?;
                let right = self.eval(right, below)?;
                Val::Bool(compare(*op, &left, &right))
            }
            Node::Logical { op, operands } => {
                let mut result = Val::Null;
                for operand in operands {
                    result = self.eval(operand, below)?;
                    let decided = match op {
                        LogicalOp::And => !result.is_truthy(),
                        LogicalOp::Or => result.is_truthy(),
                    };
                    if decided {
                        break;
                    }
                }
                result
            }
            Node::Call { function, args } => self.call(*function, args, below)?,
        })
    }

    fn named(&mut self, name: &str, position: usize) -> Result<Val, EvalError> {
        if let Some((_, value)) = self.named.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Ok(value.clone());
        }
        let Some(value) = self.ctx.named(name) else {
            return Err(EvalError {
                message: format!(
                    "Unrecognized named-value: '{name}'. Located at position {position} within expression: {}",
                    self.source
                ),
            });
        };
        let value = Val::from_value(&value);
        self.named.push((name.to_owned(), value.clone()));
        Ok(value)
    }

    fn call(&mut self, function: Function, args: &[Node], depth: usize) -> Result<Val, EvalError> {
        // Status functions read the job, not their (absent) arguments.
        let status = self.ctx.job_status();
        match function {
            Function::Success | Function::Failure if !args.is_empty() => {
                return self.needs_status(function, args, depth);
            }
            Function::Success => return Ok(Val::Bool(status == JobStatus::Success)),
            Function::Failure => return Ok(Val::Bool(status == JobStatus::Failure)),
            Function::Cancelled => return Ok(Val::Bool(status == JobStatus::Cancelled)),
            Function::Always => return Ok(Val::Bool(true)),
            Function::Case => return self.case(args, depth),
            _ => {}
        }
        let mut values = Vec::with_capacity(args.len());
        for arg in args {
            values.push(self.eval(arg, depth)?);
        }
        let first = values.first().unwrap_or(&Val::Null);
        let second = values.get(1).unwrap_or(&Val::Null);
        match function {
            Function::Contains => Ok(functions::contains(first, second)),
            Function::StartsWith => Ok(functions::starts_with(first, second)),
            Function::EndsWith => Ok(functions::ends_with(first, second)),
            Function::Format => functions::format(&values),
            Function::Join => functions::join(first, values.get(1)),
            Function::ToJson => functions::to_json(first),
            Function::FromJson => functions::from_json(first),
            Function::HashFiles => {
                let patterns: Vec<String> = values.iter().map(Val::to_coerced_string).collect();
                self.ctx.hash_files(&patterns).map(Val::string).map_err(|message| EvalError { message })
            }
            Function::Case | Function::Success | Function::Failure | Function::Always | Function::Cancelled => {
                Ok(Val::Null)
            }
        }
    }

    /// `success('a', 'b')` / `failure('a', 'b')` in a job-level `if:`: the status of the named
    /// needed jobs only, read from `needs.<job>.result`. Success: every named job succeeded;
    /// failure: any named job failed. A job not in `needs` counts as not succeeded.
    fn needs_status(&mut self, function: Function, args: &[Node], depth: usize) -> Result<Val, EvalError> {
        let needs = self.ctx.named("needs").unwrap_or(crate::Value::Null);
        let mut results = Vec::with_capacity(args.len());
        for arg in args {
            let job = self.eval(arg, depth)?.to_coerced_string();
            let result = needs.get(&job).and_then(|j| j.get("result")).map(crate::Value::to_coerced_string);
            results.push(result.unwrap_or_default());
        }
        Ok(Val::Bool(match function {
            Function::Success => results.iter().all(|r| r.eq_ignore_ascii_case("success")),
            _ => results.iter().any(|r| r.eq_ignore_ascii_case("failure")),
        }))
    }

    /// `case(pred1, value1, pred2, value2, …, default)`: the value after the first predicate
    /// that is `true`; predicates must be booleans. Only what is needed is evaluated.
    fn case(&mut self, args: &[Node], depth: usize) -> Result<Val, EvalError> {
        let mut pairs = args.chunks_exact(2);
        for pair in pairs.by_ref() {
            match self.eval(&pair[0], depth)? {
                Val::Bool(true) => return self.eval(&pair[1], depth),
                Val::Bool(false) => {}
                _ => {
                    return Err(EvalError { message: "case predicate must evaluate to a boolean value".to_owned() });
                }
            }
        }
        match pairs.remainder().first() {
            Some(default) => self.eval(default, depth),
            None => Ok(Val::Null),
        }
    }
}

fn compare(op: CompareOp, left: &Val, right: &Val) -> bool {
    match op {
        CompareOp::Equal => val::equals(left, right),
        CompareOp::NotEqual => !val::equals(left, right),
        CompareOp::Less => val::order(left, right) == Some(Ordering::Less),
        CompareOp::Greater => val::order(left, right) == Some(Ordering::Greater),
        CompareOp::LessEqual => val::equals(left, right) || val::order(left, right) == Some(Ordering::Less),
        CompareOp::GreaterEqual => val::equals(left, right) || val::order(left, right) == Some(Ordering::Greater),
    }
}

/// An index value read both ways GitHub reads it: as a property name (primitives only, by
/// their string form) and as an array position (a finite, non-negative number, floored).
struct Key {
    name: Option<String>,
    position: Option<usize>,
}

impl Key {
    fn new(index: &Val) -> Key {
        let name = index.is_primitive().then(|| index.to_coerced_string());
        let n = index.to_number();
        // `as` saturates, and no array is longer than usize::MAX anyway.
        let position = (n.is_finite() && n >= 0.0).then(|| n.floor() as usize);
        Key { name, position }
    }
}

/// `target[key]`, `target.key`. A filtered array applies the index to each of its elements and
/// keeps what is found; anything that cannot be indexed gives null.
fn lookup(target: &Val, key: &Key) -> Val {
    match target {
        Val::Filtered(items) => {
            let found = items.iter().filter_map(|item| lookup_one(item, key)).collect();
            Val::Filtered(Rc::new(found))
        }
        _ => lookup_one(target, key).unwrap_or(Val::Null),
    }
}

fn lookup_one(target: &Val, key: &Key) -> Option<Val> {
    match target {
        Val::Array(items) | Val::Filtered(items) => items.get(key.position?).cloned(),
        Val::Object(map) => Val::property(map, key.name.as_deref()?),
        _ => None,
    }
}

/// `target.*`: the elements of an array or the values of an object, as a filtered array; on a
/// filtered array, the elements of each element, flattened one level.
fn star(target: &Val) -> Val {
    let values = match target {
        Val::Array(items) => items.as_ref().clone(),
        Val::Object(map) => map.values().cloned().collect(),
        Val::Filtered(items) => items
            .iter()
            .flat_map(|item| match item {
                Val::Array(inner) | Val::Filtered(inner) => inner.as_ref().clone(),
                Val::Object(map) => map.values().cloned().collect(),
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Val::Filtered(Rc::new(values))
}
