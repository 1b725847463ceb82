use std::path::PathBuf;
use std::time::Duration;

use crate::events::EventsConfig;

/// How the engine runs a job. `EngineConfig::new(work_dir)` has GitHub's timings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The runner's `_work` directory: `<work_dir>/<repo>/<repo>` is the workspace,
    /// `<work_dir>/_temp` is `RUNNER_TEMP` (emptied at job start), `<work_dir>/_tool` the tool cache.
    pub work_dir: PathBuf,
    /// `runner.name` / `RUNNER_NAME`.
    pub runner_name: String,
    /// After SIGINT to a step's process group, how long before SIGTERM (GitHub: 7.5 s).
    pub interrupt_grace: Duration,
    /// After SIGTERM, how long before SIGKILL (GitHub: 2.5 s).
    pub terminate_grace: Duration,
    /// How long one of `timeout-minutes`' minutes lasts. Always a minute, except in tests.
    pub timeout_unit: Duration,
    /// After a step's shell exited, how long to keep reading output that background processes
    /// still write to its pipes before the step ends without them.
    pub output_drain: Duration,
    pub events: EventsConfig,
}

impl EngineConfig {
    pub fn new(work_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            work_dir: work_dir.into(),
            runner_name: "solstice".to_owned(),
            interrupt_grace: Duration::from_millis(7500),
            terminate_grace: Duration::from_millis(2500),
            timeout_unit: Duration::from_secs(60),
            output_drain: Duration::from_millis(200),
            events: EventsConfig::default(),
        }
    }
}
