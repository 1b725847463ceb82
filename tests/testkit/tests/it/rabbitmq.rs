use testkit::rabbitmq::TestVhost;

fn vhosts() -> Vec<String> {
    let output = std::process::Command::new("rabbitmqctl").args(["-q", "list_vhosts", "--no-table-headers"]).output();
    let output = output.expect("rabbitmqctl runs");
    String::from_utf8_lossy(&output.stdout).lines().map(|line| line.trim().to_owned()).collect()
}

#[test]
fn a_test_vhost_is_there_for_the_test_and_deleted_after() {
    let vhost = TestVhost::create();
    let name = vhost.name.clone();
    assert!(vhosts().contains(&name), "{name} is listed while the test runs");
    assert_eq!(vhost.url(), format!("amqp://guest:guest@127.0.0.1:5672/{name}"));
    assert_eq!(vhost.messages("no-such-queue"), 0);
    drop(vhost);
    assert!(!vhosts().contains(&name), "{name} is deleted with its TestVhost");
}
