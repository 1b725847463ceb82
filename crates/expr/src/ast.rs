//! The parsed form of an expression. The parser bounds its depth (`MAX_EXPRESSION_DEPTH`), so
//! the recursive walks over it here and in the evaluator cannot exhaust the stack.

use crate::functions::Function;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// A named context such as `github`.
    Named {
        name: String,
        /// 1-based, for the "Unrecognized named-value" message.
        position: usize,
    },
    /// `target[index]`, `target.name` (an index by string), `target.*` and `target[*]`.
    Index {
        target: Box<Node>,
        index: Index,
    },
    Not(Box<Node>),
    Compare {
        op: CompareOp,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// `a && b && c` or `a || b || c`, kept flat as GitHub does.
    Logical {
        op: LogicalOp,
        operands: Vec<Node>,
    },
    Call {
        function: Function,
        args: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Index {
    Star,
    Value(Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogicalOp {
    And,
    Or,
}

impl Node {
    /// Calls `f` on this node and every node below it, in source order.
    pub(crate) fn visit(&self, f: &mut dyn FnMut(&Node)) {
        f(self);
        match self {
            Node::Null | Node::Bool(_) | Node::Number(_) | Node::String(_) | Node::Named { .. } => {}
            Node::Index { target, index } => {
                target.visit(f);
                if let Index::Value(index) = index {
                    index.visit(f);
                }
            }
            Node::Not(inner) => inner.visit(f),
            Node::Compare { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Node::Logical { operands: nodes, .. } | Node::Call { args: nodes, .. } => {
                for node in nodes {
                    node.visit(f);
                }
            }
        }
    }
}
