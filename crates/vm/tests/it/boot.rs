//! Boots that fail, and the accelerator probe.

use std::time::Duration;

use contract::{Event, JobResult};
use tokio::time::Instant;
use vm::{Accel, AccelChoice};

use crate::{LABEL, Setup, collect, events, exited, finished, in_test_netns, request, start};

/// `linux-test` with an initramfs that is not one: the kernel panics ("VFS: Unable to mount root
/// fs"), `panic=-1` reboots, `-no-reboot` ends QEMU.
fn add_panicking_image(setup: &mut Setup) -> &'static str {
    const PANIC: &str = "linux-panic";
    testkit::vm::add_panicking_image(&setup.images.path().join(PANIC));
    let mut image = setup.config.catalog.get(LABEL).unwrap().clone();
    image.label = PANIC.into();
    setup.config.catalog.insert(image);
    PANIC
}

#[test]
fn a_kernel_panic_is_retried_once_then_fails_with_the_serial_tail() {
    in_test_netns(|| async {
        let mut setup = Setup::new();
        let label = add_panicking_image(&mut setup);
        let executor = setup.executor();
        let request = request(label, &["echo never"]);
        let started = Instant::now();
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;
        eprintln!("two panicking boots took {:?}", started.elapsed());

        let (result, error) = finished(&outputs);
        assert_eq!(result, JobResult::Failure);
        let error = error.unwrap_or_default();
        assert!(error.starts_with("the VM did not boot (2 tries): QEMU exited during boot"), "{error}");
        assert!(error.contains("\nlast lines of the serial console:\n"), "{error}");
        assert!(error.contains("Kernel panic"), "{error}");
        assert!(matches!(events(&outputs)[..], [Event::VmBooting { .. }, Event::JobFinished { .. }]), "{outputs:#?}");
        assert!(!exited(&outputs).1);
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn the_boot_watchdog_fires_and_is_retried_once() {
    in_test_netns(|| async {
        let mut setup = Setup::new();
        // Far too short for TCG: the guest is still in its kernel when the watchdog fires.
        setup.config.boot_timeout = Some(Duration::from_millis(1500));
        let executor = setup.executor();
        let request = request(LABEL, &["echo never"]);
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;

        let (result, error) = finished(&outputs);
        assert_eq!(result, JobResult::Failure);
        let error = error.unwrap_or_default();
        assert!(error.starts_with("the VM did not boot (2 tries): no SSH login within 1 s of QEMU's start"), "{error}");
        setup.assert_nothing_left(&request, None).await;
    });
}

/// `linux-test` with a qcow2 base disk of 64 TiB (sparse: a header and an empty table), more
/// than this host's disk could hold for one overlay.
fn add_huge_disk_image(setup: &mut Setup) -> &'static str {
    const HUGE: &str = "huge-disk";
    let dir = setup.images.path().join(HUGE);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(std::path::Path::new(testkit::vm::IMAGES).join(LABEL)).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let created = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(dir.join("huge.qcow2"))
        .arg("64T")
        .status()
        .unwrap();
    assert!(created.success());
    let mut image = setup.config.catalog.get(LABEL).unwrap().clone();
    image.label = HUGE.into();
    image.disk = Some(vm::BaseDisk { file: "huge.qcow2".into(), format: "qcow2".into() });
    setup.config.catalog.insert(image);
    HUGE
}

#[test]
fn a_job_whose_overlay_could_fill_the_disk_is_refused_before_booting() {
    in_test_netns(|| async {
        let mut setup = Setup::new();
        let label = add_huge_disk_image(&mut setup);
        let executor = setup.executor();
        let request = request(label, &["echo never"]);
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;

        let (result, error) = finished(&outputs);
        assert_eq!(result, JobResult::Failure);
        let error = error.unwrap_or_default();
        let refused = "refused the job before booting: its disk overlay could grow to 65537.0 GiB \
                       (the image's disk plus a 1.0 GiB reserve) and ";
        assert!(error.starts_with(refused), "{error}");
        assert!(error.contains("GiB are free for it in"), "{error}");
        assert!(!exited(&outputs).1, "no agent ran");
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn an_unknown_label_fails_the_job_without_a_vm() {
    in_test_netns(|| async {
        let setup = Setup::new();
        let executor = setup.executor();
        let request = request("no-such-image", &["echo never"]);
        let mut handle = start(&executor, request.clone()).await;
        let outputs = collect(&mut handle).await;
        let (result, error) = finished(&outputs);
        assert_eq!(result, JobResult::Failure);
        assert_eq!(error.as_deref(), Some("no image with label \"no-such-image\" in the catalog"));
        setup.assert_nothing_left(&request, None).await;
    });
}

#[test]
fn the_accelerator_probe_is_cached() {
    in_test_netns(|| async {
        let mut setup = Setup::new();
        setup.config.accel = AccelChoice::Auto;
        let executor = setup.executor();
        let started = Instant::now();
        let accel = executor.accel().await;
        eprintln!("probe: {accel:?} in {:?}", started.elapsed());
        // Whatever this host can do, the probe ends within its deadlines (10 s under KVM, then
        // 10 s under TCG).
        assert!(started.elapsed() < Duration::from_secs(25));
        let cache = std::fs::read_to_string(setup.state.path().join("vm/accel")).unwrap();
        assert!(cache.starts_with(accel.as_str()), "{cache}");

        // A new executor on the same state dir reads the cache instead of probing.
        let again = setup.executor();
        let started = Instant::now();
        assert_eq!(again.accel().await, accel);
        assert!(started.elapsed() < Duration::from_millis(500));

        setup.config.accel = AccelChoice::Tcg;
        assert_eq!(setup.executor().accel().await, Accel::Tcg, "SOLSTICE_ACCEL overrides the probe");
    });
}
