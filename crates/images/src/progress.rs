//! How a pull reports its progress: a trait the library calls, a no-op, and the indicatif bar
//! `solstice` uses on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives a pull's phases and byte counts. Called from the pull's task; must not block.
pub trait Progress: Send + Sync {
    /// A phase starts (`download omnios-r151054.cloud.raw.zst`, `decompress`, `convert`), with
    /// its total in bytes when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `bytes` more of the current phase are done.
    fn advance(&self, bytes: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// Reports nothing (tests, and stderr that is not a terminal).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// An indicatif bar on stderr, one line per phase. For binaries: create it only when stderr is a
/// terminal (JSON diagnostics go there otherwise).
#[derive(Debug)]
pub struct TerminalBar {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl TerminalBar {
    pub fn new() -> TerminalBar {
        TerminalBar { bar: std::sync::Mutex::new(None) }
    }

    fn with(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        // A poisoned lock only means a panicking reporter: drawing is not worth another panic.
        if let Ok(mut bar) = self.bar.lock() {
            f(&mut bar);
        }
    }
}

impl Default for TerminalBar {
    fn default() -> Self {
        TerminalBar::new()
    }
}

impl Progress for TerminalBar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.with(|slot| {
            let bar = match total {
                Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                ),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                    ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(name.to_owned());
            if let Some(old) = slot.replace(bar) {
                old.finish();
            }
        });
    }

    fn advance(&self, bytes: u64) {
        self.with(|slot| {
            if let Some(bar) = slot {
                bar.inc(bytes);
            }
        });
    }

    fn finish(&self) {
        self.with(|slot| {
            if let Some(bar) = slot.take() {
                bar.finish();
            }
        });
    }
}
