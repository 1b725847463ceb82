//! configure, remove and the refusals an operator meets before any job runs.

use crate::support::{LABEL, Site, code, path, run, stderr};

#[tokio::test]
async fn configure_refuses_labels_that_name_no_vm_image_and_registers_nothing() {
    let site = Site::new().await;
    let output = site.try_configure(&["--labels", "gpu,self-hosted"], &[]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("name no VM image"), "{}", stderr(&output));
    assert!(stderr(&output).contains(LABEL), "the message lists the images: {}", stderr(&output));
    assert!(site.fake.runners().is_empty());
}

#[tokio::test]
async fn configure_refuses_two_vm_images() {
    let site = Site::new().await;
    let output = site.try_configure(&["--labels", "linux-test,linux-test-agentless"], &[]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("several VM images"), "{}", stderr(&output));
}

#[tokio::test]
async fn configure_count_two_registers_two_runners_and_remove_deletes_them() {
    let site = Site::new().await;
    site.configure(&["--count", "2"]).await;
    let names: Vec<String> = site.fake.runners().into_iter().map(|runner| runner.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(site.dir.path().join("github/solstice-1/.runner").is_file());
    assert!(site.dir.path().join("github/solstice-2/.runner").is_file());
    let token = site.fake.remove_token();
    let output = run(
        site.dir.path(),
        &["remove", "--token", &token],
        &[("SOLSTICE_STATE_DIR", path(site.dir.path()).to_owned())],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(site.fake.runners().is_empty());
    assert!(!site.dir.path().join("github/solstice-1/.runner").exists());
}

#[tokio::test]
async fn configure_with_a_bad_token_exits_4() {
    let site = Site::new().await;
    let url = site.fake.repo_url("octo", "hello");
    let args = ["configure", "--url", &url, "--token", "AAAAbogus", "--name", "x", "--labels", LABEL];
    let output = run(site.dir.path(), &args, &[("SOLSTICE_STATE_DIR", path(site.dir.path()).to_owned())]).await;
    assert_eq!(code(&output), 4, "{}", stderr(&output));
}

#[tokio::test]
async fn run_without_a_registration_or_a_bus_key_exits_2() {
    let site = Site::new().await;
    let output = run(site.dir.path(), &["run"], &site.env()).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("configure"), "{}", stderr(&output));
    site.configure(&[]).await;
    let env: Vec<(&str, String)> = site.env().into_iter().filter(|(name, _)| *name != "SOLSTICE_BUS_KEY").collect();
    let output = run(site.dir.path(), &["run"], &env).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("SOLSTICE_BUS_KEY"), "{}", stderr(&output));
}

#[tokio::test]
async fn a_runner_deleted_on_github_exits_4() {
    let site = Site::new().await;
    site.configure(&[]).await;
    let id = site.fake.runners()[0].id;
    assert!(site.fake.delete_runner(id));
    let output = run(site.dir.path(), &["run"], &site.env()).await;
    assert_eq!(code(&output), 4, "{}", stderr(&output));
}
