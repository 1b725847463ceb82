//! The daemon against the fake Forgejo and the real RabbitMQ: it fetches only once an
//! orchestrator advertises a free slot for its label, and stops on shutdown.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{AmqpBus, AmqpSettings, Bus, FreeSlots};
use fake_forgejo::{FakeForgejo, JobSpec, Scope, Status};
use forgejo::fetch::FetchConfig;
use forgejo::settings::Settings;
use forgejo::{RegisterConfig, RunnerToken, register};
use tokio::sync::oneshot;

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[tokio::test]
async fn the_daemon_fetches_once_a_slot_is_advertised_for_its_label_and_stops_on_shutdown() {
    let fake = FakeForgejo::start().await.expect("the fake starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A label of this test alone: other tests share the broker's slot exchange.
    let label = format!("forgejo-it-{}", uuid::Uuid::new_v4().simple());
    let config = RegisterConfig {
        instance_url: fake.url().to_owned(),
        registration_token: RunnerToken::new(fake.registration_token(Scope::Global)),
        name: "daemon-1".into(),
        labels: vec![label.clone()],
        ephemeral: false,
        runner_file: dir.path().join(".runner"),
        wait_for_server: Duration::from_secs(2),
    };
    register(&config).await.expect("registers");
    let payload = format!("jobs:\n  build:\n    runs-on: {label}\n    steps:\n      - run: echo hi\n");
    let job = fake.add_job(JobSpec::new("build", payload, &[label.as_str()], &["echo hi"]));

    let settings = Settings {
        amqp: AmqpSettings::new(BROKER),
        runner_file: config.runner_file.clone(),
        labels: None,
        capacity: 1,
        fetch: FetchConfig { interval: Duration::from_millis(20), ..FetchConfig::default() },
        shutdown_timeout: Duration::from_secs(5),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let secrets = forgejo::daemon::Secrets {
        bus_key: contract::BusKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("a key"),
        database_url: None,
    };
    // Not spawned: the store's connect future is not Send. The test drives the daemon and the
    // checks side by side in this task.
    let daemon = forgejo::daemon::run_with(settings, secrets, async {
        let _ = stopped.await;
    });
    let checks = async {
        fake.wait_for(Duration::from_secs(10), |s| (!s.calls_of("Declare").is_empty()).then_some(()))
            .await
            .expect("the daemon declares");

        let bus = AmqpBus::connect(AmqpSettings::new(BROKER)).await.expect("the broker answers");
        let none = FreeSlots { orchestrator_id: "orch-it".into(), labels: BTreeMap::from([(label.clone(), 0)]) };
        bus.publish_slots(&none).await.expect("published");
        assert!(fake.snapshot(|s| s.calls_of("FetchTask")).is_empty(), "no fetch before a free slot");

        // Adverts are fanned out to subscribers present at the time, and the daemon subscribes
        // right after Declare; like an orchestrator, advertise again until the runner acts on it.
        let free = FreeSlots { orchestrator_id: "orch-it".into(), labels: BTreeMap::from([(label.clone(), 1)]) };
        let mut finished = None;
        for _ in 0..50 {
            bus.publish_slots(&free).await.expect("published");
            if let Ok(view) = fake.wait_until_finished(job, Duration::from_millis(200)).await {
                finished = Some(view);
                break;
            }
        }
        let view = finished.expect("the job was fetched and ended");
        // No orchestrator consumes the label's queue here: the task fails, and its log says why.
        assert_eq!(view.status, Status::Failure);
        let rows = fake.rows(job);
        assert!(
            rows.iter().any(|row| row.content.contains(&format!("no orchestrator serves label {label}"))),
            "{rows:?}"
        );
        let _ = stop.send(());
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(daemon, checks) })
        .await
        .expect("the daemon stops");
    assert!(result.is_ok(), "{result:?}");
}
