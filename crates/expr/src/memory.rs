//! GitHub's bound on what one evaluation may hold. Each node's result is charged at the node's
//! depth in the tree; when a node finishes, the results of its children (deeper levels) are
//! released, so what is counted is what is alive at once: the results on the current path plus
//! their finished siblings. A string costs 26 bytes plus 2 per UTF-16 code unit, anything else
//! 24 — the same arithmetic as the C# runner, so the same expressions hit the limit.

use crate::{EvalError, MAX_EVALUATION_MEMORY};

const STRING_OVERHEAD: usize = 26;
const OBJECT_SIZE: usize = 24;

#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// Bytes charged at each depth.
    levels: Vec<usize>,
    total: usize,
}

impl Memory {
    /// Charge `bytes` at `depth`, first releasing everything charged deeper.
    pub(crate) fn charge(&mut self, depth: usize, bytes: usize) -> Result<(), EvalError> {
        while self.levels.len() > depth + 1 {
            let released = self.levels.pop().unwrap_or(0);
            self.total = self.total.saturating_sub(released);
        }
        while self.levels.len() <= depth {
            self.levels.push(0);
        }
        self.levels[depth] = self.levels[depth].saturating_add(bytes);
        self.total = self.total.saturating_add(bytes);
        if self.total > MAX_EVALUATION_MEMORY {
            return Err(exceeded());
        }
        Ok(())
    }
}

pub(crate) fn exceeded() -> EvalError {
    EvalError { message: "The maximum allowed memory size was exceeded".to_owned() }
}

pub(crate) fn string_bytes(s: &str) -> usize {
    STRING_OVERHEAD.saturating_add(s.encode_utf16().count().saturating_mul(2))
}

pub(crate) fn object_bytes() -> usize {
    OBJECT_SIZE
}

/// Fails once a string being built is certain to exceed the limit by itself; functions that
/// build strings (`format`, `join`, `toJSON`) check as they go instead of allocating without
/// bound. A UTF-16 code unit never takes more than 3 UTF-8 bytes, so a string of `len_utf8`
/// bytes costs at least `2 * len_utf8 / 3`; the exact charge happens when the result is done.
pub(crate) fn check_building(len_utf8: usize) -> Result<(), EvalError> {
    if len_utf8.saturating_mul(2) / 3 > MAX_EVALUATION_MEMORY {
        return Err(exceeded());
    }
    Ok(())
}
