//! The `needs` graph: unknown jobs, cycles, and an order that puts every job after its needs.

use crate::error::Sink;
use crate::node::Pos;

/// One job's `needs`, each with where it is written.
pub(crate) struct JobNeeds<'a> {
    pub key: &'a str,
    pub needs: Vec<(&'a str, Pos)>,
}

/// Checks the graph the way GitHub does: at least one job without needs, then every need that
/// is never satisfied is either an unknown job or part of a cycle. Returns the job keys in an
/// order where each comes after its needs (file order among equals).
pub(crate) fn order(jobs: &[JobNeeds<'_>], jobs_pos: Pos, sink: &mut Sink) -> Vec<String> {
    if !jobs.iter().any(|j| j.needs.is_empty()) {
        sink.error(jobs_pos, "The workflow must contain at least one job with no dependencies.");
        return Vec::new();
    }
    let mut placed: Vec<String> = Vec::new();
    let mut remaining: Vec<&JobNeeds<'_>> = jobs.iter().collect();
    loop {
        let ready = remaining.iter().position(|j| j.needs.iter().all(|(n, _)| placed.iter().any(|p| p == n)));
        match ready {
            Some(i) => placed.push(remaining.remove(i).key.to_string()),
            None => break,
        }
    }
    for job in remaining {
        for (need, pos) in &job.needs {
            if placed.iter().any(|p| p == need) {
                continue;
            }
            if jobs.iter().any(|j| j.key == *need) {
                sink.job_error(
                    Some(*pos),
                    job.key,
                    format!("Job '{}' depends on job '{need}' which creates a cycle in the dependency graph.", job.key),
                );
            } else {
                sink.job_error(Some(*pos), job.key, format!("Job '{}' depends on unknown job '{need}'.", job.key));
            }
        }
    }
    placed
}
