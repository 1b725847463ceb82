//! The text a Prometheus server scrapes.

use telemetry::Registry;

#[test]
fn counters_and_gauges_render_with_help_type_and_labels() {
    let registry = Registry::new();
    let done = registry.counter("solstice_jobs_total", "Jobs by final state.", &[("state", "succeeded")]);
    let failed = registry.counter("solstice_jobs_total", "Jobs by final state.", &[("state", "failed")]);
    let vms = registry.gauge("solstice_running_vms", "VMs running now.", &[]);
    done.add(3);
    failed.inc();
    vms.set(2);
    // Asking for a series again hands out the same cell.
    registry.counter("solstice_jobs_total", "Jobs by final state.", &[("state", "failed")]).inc();
    let text = registry.render();
    assert_eq!(
        text,
        "# HELP solstice_jobs_total Jobs by final state.\n\
         # TYPE solstice_jobs_total counter\n\
         solstice_jobs_total{state=\"succeeded\"} 3\n\
         solstice_jobs_total{state=\"failed\"} 2\n\
         # HELP solstice_running_vms VMs running now.\n\
         # TYPE solstice_running_vms gauge\n\
         solstice_running_vms 2\n"
    );
}

#[test]
fn histograms_are_cumulative_with_sum_and_count() {
    let registry = Registry::new();
    let pickup = registry.histogram("solstice_phase_seconds", "Phase latency.", &[("phase", "pickup")], &[0.1, 1.0]);
    pickup.observe(0.05);
    pickup.observe(0.5);
    pickup.observe(7.0);
    pickup.observe(f64::NAN);
    let text = registry.render();
    assert!(text.contains("solstice_phase_seconds_bucket{phase=\"pickup\",le=\"0.1\"} 2\n"), "{text}");
    assert!(text.contains("solstice_phase_seconds_bucket{phase=\"pickup\",le=\"1\"} 3\n"), "{text}");
    assert!(text.contains("solstice_phase_seconds_bucket{phase=\"pickup\",le=\"+Inf\"} 4\n"), "{text}");
    assert!(text.contains("solstice_phase_seconds_sum{phase=\"pickup\"} 7.55\n"), "{text}");
    assert!(text.contains("solstice_phase_seconds_count{phase=\"pickup\"} 4\n"), "{text}");
}

#[test]
fn label_values_are_escaped() {
    let registry = Registry::new();
    registry.counter("x_total", "h", &[("forge", "a\"b\\c\nd")]).inc();
    assert!(registry.render().contains(r#"x_total{forge="a\"b\\c\nd"} 1"#));
}
