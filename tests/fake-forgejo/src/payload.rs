//! Reading the few things the server itself takes from a single-job payload: the job id, its
//! `runs-on` labels and its step names (forgejo.md §3.4 step 4, §5).

use saphyr_parser::{Event, Parser};

use crate::job_spec::{JobSpec, step_name};

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("parse the payload as YAML: {0}")]
    Yaml(String),
    #[error("find exactly one job under `jobs`")]
    NotOneJob,
}

/// A YAML node reduced to what the fake needs; anchors and aliases are not followed.
enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    Other,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(name, _)| name == key).map(|(_, node)| node),
            _ => None,
        }
    }

    fn text(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Node::Scalar(text)) => text,
            _ => "",
        }
    }
}

impl JobSpec {
    /// A job built from its payload alone: the job id is the single key under `jobs`, `runs-on`
    /// its label (or list of labels), and the steps are named as Forgejo names them.
    pub fn from_payload(payload_yaml: impl Into<String>) -> Result<JobSpec, PayloadError> {
        let payload_yaml = payload_yaml.into();
        let root = parse(&payload_yaml)?;
        let Some(Node::Map(jobs)) = root.get("jobs") else {
            return Err(PayloadError::NotOneJob);
        };
        let [(job_id, job)] = jobs.as_slice() else {
            return Err(PayloadError::NotOneJob);
        };
        let runs_on: Vec<String> = match job.get("runs-on") {
            Some(Node::Scalar(label)) => vec![label.clone()],
            Some(Node::Seq(labels)) => labels
                .iter()
                .filter_map(|label| match label {
                    Node::Scalar(label) => Some(label.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let steps: Vec<String> = match job.get("steps") {
            Some(Node::Seq(steps)) => steps
                .iter()
                .map(|step| step_name(step.text("name"), step.text("uses"), step.text("run"), step.text("id")))
                .collect(),
            _ => Vec::new(),
        };
        let runs_on: Vec<&str> = runs_on.iter().map(String::as_str).collect();
        let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
        Ok(JobSpec::new(job_id.clone(), payload_yaml.clone(), &runs_on, &steps))
    }
}

fn parse(source: &str) -> Result<Node, PayloadError> {
    // A stack of open collections; a map's pending key waits beside it.
    let mut stack: Vec<(Node, Option<String>)> = Vec::new();
    let mut root = None;
    let mut parser = Parser::new_from_str(source);
    while let Some(next) = parser.next_event() {
        let (event, _) = next.map_err(|error| PayloadError::Yaml(error.info().to_string()))?;
        let node = match event {
            Event::Scalar(text, ..) => Node::Scalar(text.into_owned()),
            Event::Alias(_) => Node::Other,
            Event::SequenceStart(..) => {
                stack.push((Node::Seq(Vec::new()), None));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push((Node::Map(Vec::new()), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some((node, _)) => node,
                None => return Err(PayloadError::Yaml("unbalanced collection end".into())),
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some((Node::Seq(items), _)) => items.push(node),
            Some((Node::Map(entries), key)) => match key.take() {
                Some(name) => entries.push((name, node)),
                None => {
                    *key = Some(match node {
                        Node::Scalar(text) => text,
                        _ => String::new(),
                    })
                }
            },
            Some(_) => {}
        }
    }
    root.ok_or_else(|| PayloadError::Yaml("the payload is empty".into()))
}
