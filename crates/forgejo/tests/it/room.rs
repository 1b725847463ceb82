//! Free slots from orchestrators' adverts, over the in-process bus on a paused clock.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{Bus, FreeSlots, InProcessBus};
use forgejo::room::track_free_slots;
use tokio::sync::watch;

fn advert(orchestrator: &str, slots: &[(&str, u32)]) -> FreeSlots {
    FreeSlots {
        orchestrator_id: orchestrator.into(),
        labels: slots.iter().map(|(label, n)| (label.to_string(), *n)).collect::<BTreeMap<_, _>>(),
    }
}

#[tokio::test(start_paused = true)]
async fn free_slots_add_up_over_orchestrators_and_labels_and_a_silent_orchestrator_is_forgotten() {
    let bus = InProcessBus::new();
    let slots = bus.subscribe_slots().await.expect("subscribes");
    let (free_tx, mut free) = watch::channel(0u32);
    let labels = vec!["linux-test".to_owned(), "omnios".to_owned()];
    tokio::spawn(track_free_slots(slots, labels, free_tx, Duration::from_secs(35)));

    bus.publish_slots(&advert("a", &[("linux-test", 2), ("freebsd", 5)])).await.expect("published");
    assert_eq!(*free.wait_for(|n| *n == 2).await.expect("tracking"), 2, "other labels do not count");
    bus.publish_slots(&advert("b", &[("omnios", 1)])).await.expect("published");
    free.wait_for(|n| *n == 3).await.expect("both orchestrators count");
    bus.publish_slots(&advert("a", &[("linux-test", 0)])).await.expect("published");
    free.wait_for(|n| *n == 1).await.expect("a's latest advert replaces its earlier one");

    // b keeps advertising, a falls silent: 35 s later only b counts.
    let started = tokio::time::Instant::now();
    bus.publish_slots(&advert("a", &[("linux-test", 4)])).await.expect("published");
    free.wait_for(|n| *n == 5).await.expect("a is back");
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        bus.publish_slots(&advert("b", &[("omnios", 1)])).await.expect("published");
    }
    free.wait_for(|n| *n == 1).await.expect("a is forgotten");
    assert!(started.elapsed() >= Duration::from_secs(35));
}
