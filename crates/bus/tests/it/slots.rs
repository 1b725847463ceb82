use std::collections::BTreeMap;

use bus::{Bus, FreeSlots, SlotBoard};

use crate::support::backend::Backend;
use crate::{behaviour, next, try_next};

behaviour!(free_slots_reach_every_runner);

fn advert(orchestrator: &str, free: &[(&str, u32)]) -> FreeSlots {
    let labels: BTreeMap<String, u32> = free.iter().map(|(label, n)| (label.to_string(), *n)).collect();
    FreeSlots { orchestrator_id: orchestrator.into(), labels }
}

async fn free_slots_reach_every_runner<B: Backend>(backend: B) {
    let orchestrators = backend.bus();
    let mut runner_a = backend.another().await.subscribe_slots().await.unwrap();
    let mut runner_b = backend.another().await.subscribe_slots().await.unwrap();
    let first = advert("orch-1", &[("linux", 2), ("omnios", 0)]);
    let second = advert("orch-2", &[("omnios", 1)]);
    orchestrators.publish_slots(&first).await.unwrap();
    orchestrators.publish_slots(&second).await.unwrap();

    for runner in [&mut runner_a, &mut runner_b] {
        let mut board = SlotBoard::default();
        for expected in [&first, &second] {
            let delivery = next(runner).await;
            assert_eq!(&delivery.payload, expected);
            board.record(&delivery.payload);
            delivery.acker.ack().await.unwrap();
        }
        assert_eq!((board.free("linux"), board.free("omnios"), board.free("freebsd")), (2, 1, 0));
        assert!(try_next(runner, backend.quiet()).await.is_none());
    }
}

#[test]
fn the_board_keeps_the_latest_advert_per_orchestrator() {
    let mut board = SlotBoard::default();
    board.record(&advert("orch-1", &[("linux", 2)]));
    board.record(&advert("orch-2", &[("linux", 3)]));
    assert_eq!(board.free("linux"), 5);
    board.record(&advert("orch-1", &[("linux", 0)]));
    assert_eq!(board.free("linux"), 3);
    board.forget("orch-2");
    assert_eq!(board.free("linux"), 0);
}
