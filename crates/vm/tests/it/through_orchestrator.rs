//! The qemu executor behind the real orchestrator and the in-process bus: what a forge runner
//! would receive.

use std::time::Duration;

use bus::{Bus, Consumer, InProcessBus};
use contract::{BusKey, Event, JobEvent, JobResult};
use orchestrator::{Orchestrator, OrchestratorConfig};

use crate::{LABEL, Setup, in_test_netns, request};

#[test]
fn the_orchestrator_sequences_vm_events_before_the_agents() {
    in_test_netns(|| async {
        let setup = Setup::new();
        let bus = InProcessBus::new();
        let mut consumer = bus.consume_events("runner-1").await.unwrap();
        let config = OrchestratorConfig::new("orchestrator-vm-test", BusKey::generate().unwrap());
        let orchestrator = Orchestrator::start(bus.clone(), setup.executor(), config).await.unwrap();
        let request = request(LABEL, &["hostname"]);

        assert_eq!(orchestrator.run_job(request.clone()).await, JobResult::Success);
        let mut events: Vec<JobEvent> = Vec::new();
        while let Ok(Ok(delivery)) = tokio::time::timeout(Duration::ZERO, consumer.next()).await {
            delivery.acker.ack().await.unwrap();
            events.push(delivery.payload);
        }
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{events:#?}");
        let kinds: Vec<&Event> = events.iter().map(|e| &e.event).filter(|e| !matches!(e, Event::Heartbeat)).collect();
        assert!(matches!(kinds[0], Event::Accepted { .. }), "{kinds:#?}");
        assert!(matches!(kinds[1], Event::VmBooting { label } if label == LABEL), "{kinds:#?}");
        assert!(matches!(kinds[2], Event::VmReady { label } if label == LABEL), "{kinds:#?}");
        assert!(matches!(kinds.last(), Some(Event::JobFinished { result: JobResult::Success, .. })), "{kinds:#?}");
        let hostname = kinds.iter().any(
            |e| matches!(e, Event::Log { lines, .. } if lines.iter().any(|line| *line == request.job_id.to_string())),
        );
        assert!(hostname, "the guest's hostname (the job id) is in the log: {kinds:#?}");
        drop(orchestrator);
        setup.assert_nothing_left(&request, None).await;
    });
}
