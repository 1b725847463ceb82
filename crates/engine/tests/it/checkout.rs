//! The built-in checkout: the engine asks, the host streams a tar archive, the engine unpacks.

use base64::Engine as _;
use contract::{CheckoutRequest, ControlMessage, Event, Outcome, Template};

use crate::harness::{checkout, request, run, start};

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        if let Err(e) = builder.append_data(&mut header, path, contents.as_bytes()) {
            panic!("tar: {e}");
        }
    }
    builder.into_inner().unwrap_or_default()
}

/// A tar whose single entry is named `name` verbatim (the builder refuses `..`).
fn raw_tar(name: &str, contents: &str) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend(contents.as_bytes());
    out.resize(512 * (1 + contents.len().div_ceil(512)), 0);
    out.extend([0u8; 1024]);
    out
}

async fn send_tar(running: &crate::harness::Running, index: u32, tar: &[u8]) {
    for chunk in tar.chunks(700) {
        let data = base64::engine::general_purpose::STANDARD.encode(chunk);
        running.send(ControlMessage::WorkspaceChunk { index, data }).await;
    }
    running.send(ControlMessage::WorkspaceEnd { index, error: None }).await;
}

#[tokio::test]
async fn the_workspace_arrives_through_the_control_channel() {
    let mut step = checkout(0);
    step.with.insert("path".into(), Template::literal("src"));
    step.with.insert("ref".into(), Template::expr("github.sha"));
    step.with.insert("fetch-depth".into(), Template::literal(0));
    let mut running =
        start(request(vec![step, run(1, "cat src/README && cat src/dir/nested")]), Default::default(), |_| {});
    let asked = running.wait_for(|e| matches!(e, Event::CheckoutRequested { .. })).await;
    let Event::CheckoutRequested { index, request } = asked else { unreachable!() };
    assert_eq!(index, 0);
    assert_eq!(
        request,
        CheckoutRequest {
            path: "src".into(),
            repository: None,
            git_ref: Some("0123456789abcdef".into()),
            fetch_depth: Some(0)
        }
    );
    send_tar(&running, 0, &tar_of(&[("README", "hello\n"), ("dir/nested", "deep\n")])).await;
    let job = running.finish().await;
    assert_eq!(job.result(), Outcome::Success);
    assert_eq!(job.started_name(0).as_deref(), Some("Run actions/checkout@v4"));
    assert_eq!(job.output(1), ["hello", "deep"]);
}

#[tokio::test]
async fn entries_escaping_the_workspace_are_refused() {
    let mut running = start(request(vec![checkout(0)]), Default::default(), |_| {});
    running.wait_for(|e| matches!(e, Event::CheckoutRequested { .. })).await;
    send_tar(&running, 0, &raw_tar("../escaped", "bad")).await;
    let job = running.finish().await;
    assert_eq!(job.outcome(0), Outcome::Failure);
    let output = job.output(0);
    assert!(output.iter().any(|l| l.contains("points outside the target directory")), "{output:?}");
    assert!(!job.work.path().join("hello").join("escaped").exists());
}

#[tokio::test]
async fn the_host_can_fail_the_checkout() {
    let mut running = start(request(vec![checkout(0)]), Default::default(), |_| {});
    running.wait_for(|e| matches!(e, Event::CheckoutRequested { .. })).await;
    running.send(ControlMessage::WorkspaceEnd { index: 0, error: Some("no such ref".into()) }).await;
    let job = running.finish().await;
    assert_eq!(job.outcome(0), Outcome::Failure);
    assert!(job.output(0).iter().any(|l| l.ends_with("the host could not provide the workspace: no such ref")));
}

#[tokio::test]
async fn submodules_and_lfs_are_refused_before_asking() {
    for key in ["submodules", "lfs"] {
        let mut step = checkout(0);
        step.with.insert(key.into(), Template::literal(true));
        let running = start(request(vec![step]), Default::default(), |_| {});
        let job = running.finish().await;
        assert_eq!(job.outcome(0), Outcome::Failure);
        assert!(!job.events.iter().any(|e| matches!(e, Event::CheckoutRequested { .. })));
        assert!(job.output(0)[0].contains(&format!("`{key}` is not supported yet")), "{:?}", job.output(0));
    }
}
