//! Where in the job message a value sits, built as the reader descends and rendered only when
//! an error names it.

use std::fmt;

/// A field's path in the message: `steps[2].inputs.map[0].Value`. Each level borrows its
/// parent, so descending costs nothing until an error renders it.
#[derive(Debug, Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
    depth: usize,
}

#[derive(Debug, Clone, Copy)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// A top-level field of the message.
    pub fn root(name: &'a str) -> Self {
        Path { parent: None, segment: Segment::Key(name), depth: 0 }
    }

    /// The member `name` of this value.
    pub fn key(&'a self, name: &'a str) -> Path<'a> {
        Path { parent: Some(self), segment: Segment::Key(name), depth: self.depth + 1 }
    }

    /// The element `index` of this list.
    pub fn index(&'a self, index: usize) -> Path<'a> {
        Path { parent: Some(self), segment: Segment::Index(index), depth: self.depth + 1 }
    }

    /// How many levels below the top-level field this is.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.segment {
            Segment::Key(name) if self.parent.is_none() => f.write_str(name),
            Segment::Key(name) => write!(f, ".{name}"),
            Segment::Index(index) => write!(f, "[{index}]"),
        }
    }
}
