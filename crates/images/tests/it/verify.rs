//! `verify` boots the real `linux-test` image through the real qemu executor under TCG.
//!
//! **Network.** The test runs in a network namespace of its own (`testkit::netns::run_in_fresh`)
//! and the executor gives the guest none (`Uplink::Blackhole`): no packet leaves this machine.
//! **Skips.** Without the built image or without root it prints SKIPPED and passes, unless
//! `SOLSTICE_REQUIRE_VM` is set (testkit's VM rule).

use std::time::Duration;

use vm::{AccelChoice, Catalog, NetworkMode, QemuExecutor, QemuExecutorConfig, Uplink};

#[test]
fn verify_boots_linux_test_and_reports_the_guest_hostname_and_boot_time() {
    if testkit::vm::unavailable().is_some() {
        return;
    }
    testkit::netns::run_in_fresh(|| async {
        let state = testkit::vm::state_dir();
        let images = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(testkit::vm::image(), images.path().join(testkit::vm::LABEL)).unwrap();
        let agents = testkit::vm::AgentDir::locate(orchestrator::HOST_TARGET);
        let mut config = QemuExecutorConfig::new(state.path().to_owned(), Catalog::builtin().unwrap());
        config.images_dir = images.path().to_owned();
        config.accel = AccelChoice::Tcg;
        config.network = NetworkMode::PerVm(Uplink::Blackhole);
        config.agent_dir = Some(agents.path.clone());
        let executor = QemuExecutor::new(config).unwrap();

        let report = images::verify(&executor, "linux-test", Duration::from_secs(150)).await.unwrap();

        assert_eq!(report.hostname.len(), 26, "the job id, a ULID: {report:?}");
        assert!(report.uname.starts_with("Linux "), "{report:?}");
        assert!(report.boot > Duration::ZERO && report.boot < Duration::from_secs(150), "{report:?}");
        assert!(report.log.iter().any(|line| line.contains(&report.hostname)), "{:?}", report.log);
    });
}

#[test]
fn verify_fails_on_an_image_that_does_not_boot() {
    if testkit::vm::unavailable().is_some() {
        return;
    }
    testkit::netns::run_in_fresh(|| async {
        let state = testkit::vm::state_dir();
        let images = tempfile::tempdir().unwrap();
        // `linux-test`'s label, files that panic the kernel: the executor's boot fails.
        testkit::vm::add_panicking_image(&images.path().join(testkit::vm::LABEL));
        let agents = testkit::vm::AgentDir::locate(orchestrator::HOST_TARGET);
        let mut config = QemuExecutorConfig::new(state.path().to_owned(), Catalog::builtin().unwrap());
        config.images_dir = images.path().to_owned();
        config.accel = AccelChoice::Tcg;
        config.network = NetworkMode::PerVm(Uplink::Blackhole);
        config.agent_dir = Some(agents.path.clone());
        config.boot_timeout = Some(Duration::from_secs(60));
        let executor = QemuExecutor::new(config).unwrap();

        let error = images::verify(&executor, "linux-test", Duration::from_secs(150)).await.unwrap_err();

        assert!(matches!(error, images::VerifyError::Failed { .. }), "{error:?}");
        assert!(error.to_string().contains("it ended failure"), "{error}");
    });
}
