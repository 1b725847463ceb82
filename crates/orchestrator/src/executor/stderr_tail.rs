use std::collections::VecDeque;

/// The last lines an agent wrote to stderr, for the error text when it dies.
#[derive(Debug)]
pub(crate) struct StderrTail {
    lines: VecDeque<String>,
    keep: usize,
}

impl StderrTail {
    pub fn new(keep: usize) -> Self {
        StderrTail { lines: VecDeque::with_capacity(keep), keep }
    }

    pub fn push(&mut self, line: String) {
        if self.keep == 0 {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    pub fn into_lines(self) -> Vec<String> {
        self.lines.into()
    }
}
