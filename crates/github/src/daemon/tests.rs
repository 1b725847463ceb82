use super::*;

fn labels(list: &[&str]) -> Vec<String> {
    list.iter().map(|label| (*label).to_owned()).collect()
}

#[test]
fn the_route_label_is_the_one_catalog_label_among_generic_ones() {
    assert_eq!(route_label(&labels(&["self-hosted", "linux-test", "team-a"])), Ok("linux-test".to_owned()));
    let none = route_label(&labels(&["self-hosted", "gpu"])).unwrap_err();
    assert!(none.contains("name no VM image") && none.contains("linux-test"), "{none}");
    let two = route_label(&labels(&["linux-test", "linux-test-agentless"])).unwrap_err();
    assert!(two.contains("several VM images"), "{two}");
}

#[test]
fn runner_ids_differ_across_tenants_and_stay_put() {
    let registration = |server_url: &str| Registration {
        agent_id: 7,
        agent_name: "r".into(),
        pool_id: 1,
        pool_name: None,
        server_url: server_url.into(),
        broker_url: None,
        use_v2_flow: true,
        use_runner_admin_flow: true,
        github_url: String::new(),
        work_folder: "_work".into(),
        ephemeral: false,
        disable_update: true,
        client_id: "c".into(),
        authorization_url: "https://token".into(),
        legacy_authorization_url: None,
        require_fips: false,
        labels: Vec::new(),
        api_url: None,
    };
    let a = runner_id(&registration("https://pipelines.example/a"));
    assert_eq!(a, runner_id(&registration("https://pipelines.example/a")));
    assert_ne!(a, runner_id(&registration("https://pipelines.example/b")));
    assert!(a.starts_with("github-") && a.ends_with("-7"), "{a}");
}

/// `solstice serve` spawns the daemon on its runtime: the future must be `Send`.
#[allow(dead_code)]
fn run_with_is_send(settings: Settings, deps: Deps<bus::InProcessBus>) {
    fn send<T: Send>(_: &T) {}
    let future = run_with(settings, deps, std::future::pending());
    send(&future);
}
