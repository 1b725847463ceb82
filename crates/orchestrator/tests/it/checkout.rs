use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bus::{Bus, InProcessBus};
use contract::{CheckoutRequest, ControlMessage, Event, JobResult};
use orchestrator::{RAW_CHUNK_BYTES, WorkspaceSource, stream_checkout};
use tokio::sync::mpsc;

use crate::{RUNNER, check_sequence, local, published, request};

/// A small tree with a git dir, a nested file, a symlink, a big file and a `target` dir.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, content) in
        [(".git/HEAD", "ref: refs/heads/main\n"), ("src/lib.rs", "fn main() {}\n"), ("target/junk", "x")]
    {
        std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
        std::fs::write(root.join(path), content).unwrap();
    }
    // Incompressible-ish and larger than two chunks.
    let big: Vec<u8> =
        (0..(RAW_CHUNK_BYTES * 2 + 1000) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(root.join("big.bin"), big).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("src/lib.rs", root.join("link")).unwrap();
    dir
}

async fn collect(source: Option<WorkspaceSource>, request: CheckoutRequest) -> (Vec<Vec<u8>>, Option<String>) {
    let (tx, mut rx) = mpsc::channel(4);
    let streaming = tokio::spawn(stream_checkout(source, 3, request, tx));
    let mut chunks = Vec::new();
    let end = loop {
        match rx.recv().await {
            Some(ControlMessage::WorkspaceChunk { index, data }) => {
                assert_eq!(index, 3);
                assert!(data.len() <= 256 * 1024, "chunk of {} base64 bytes", data.len());
                chunks.push(STANDARD.decode(data).unwrap());
            }
            Some(ControlMessage::WorkspaceEnd { index, error }) => {
                assert_eq!(index, 3);
                break error;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    streaming.await.unwrap();
    (chunks, end)
}

fn entries(tar: &[u8]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.insert(path, content);
    }
    out
}

#[tokio::test]
async fn the_tree_streams_with_git_in_chunks() {
    let tree = tree();
    let source = WorkspaceSource { root: tree.path().to_owned(), repository: None, exclude: Vec::new() };
    let (chunks, error) = collect(Some(source), CheckoutRequest::default()).await;
    assert_eq!(error, None);
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    let files = entries(&chunks.concat());
    assert_eq!(files[Path::new(".git/HEAD")], b"ref: refs/heads/main\n");
    assert_eq!(files[Path::new("src/lib.rs")], b"fn main() {}\n");
    assert_eq!(files[Path::new("big.bin")], std::fs::read(tree.path().join("big.bin")).unwrap());
    assert!(files.contains_key(Path::new("target/junk")));
    assert!(files.contains_key(Path::new("link")));
}

#[tokio::test]
async fn excluded_paths_stay_out() {
    let tree = tree();
    let source = WorkspaceSource { root: tree.path().to_owned(), repository: None, exclude: vec!["target".into()] };
    let (chunks, error) = collect(Some(source), CheckoutRequest::default()).await;
    assert_eq!(error, None);
    let files = entries(&chunks.concat());
    assert!(!files.keys().any(|p| p.starts_with("target")), "{:?}", files.keys());
    assert!(files.contains_key(Path::new("src/lib.rs")));
}

#[tokio::test]
async fn without_a_tree_or_for_another_repository_the_end_says_why() {
    let (chunks, error) = collect(None, CheckoutRequest::default()).await;
    assert!(chunks.is_empty());
    assert!(error.unwrap_or_default().contains("no working tree"));

    let tree = tree();
    let source =
        WorkspaceSource { root: tree.path().to_owned(), repository: Some("me/mine".into()), exclude: Vec::new() };
    let request = CheckoutRequest { repository: Some("other/theirs".into()), ..CheckoutRequest::default() };
    let (_, error) = collect(Some(source), request).await;
    assert!(error.unwrap_or_default().contains("other/theirs"));
}

#[tokio::test]
async fn the_agent_gets_the_tree_and_the_runner_never_sees_the_request() {
    let bus = InProcessBus::new();
    let mut events = bus.consume_events(RUNNER).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let tree = tree();
    let source = WorkspaceSource { root: tree.path().to_owned(), repository: None, exclude: Vec::new() };
    let orchestrator = local(&bus, "checkout.sh", &work, Some(source)).await;

    assert_eq!(orchestrator.run_job(request()).await, JobResult::Success);
    let events = published(&mut events).await;
    check_sequence(&events);
    assert!(!events.iter().any(|e| matches!(e.event, Event::CheckoutRequested { .. })));
    let lines: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Log { lines, .. } => Some(lines.join("\n")),
            _ => None,
        })
        .collect();
    let count: usize = lines
        .iter()
        .find_map(|l| l.strip_prefix("chunks "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no chunk count in {lines:?}"));
    assert!(count >= 3, "{count} chunks reached the agent");
}
