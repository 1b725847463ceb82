//! VM records for the reconcile loop, and what the store says about rows it cannot read.

use std::path::PathBuf;

use store::{StoreError, VmRecord, VmState};

use crate::db::TestDb;
use crate::fixture::{A, B, C, at, job_ids};

fn vm(vm_id: &str, job_id: ulid::Ulid, orchestrator_id: &str) -> VmRecord {
    VmRecord {
        vm_id: vm_id.into(),
        job_id,
        attempt: 1,
        orchestrator_id: orchestrator_id.into(),
        pid: None,
        qmp_socket: PathBuf::from(format!("/var/lib/solstice/vms/{vm_id}/qmp.sock")),
        overlay: PathBuf::from(format!("/var/lib/solstice/vms/{vm_id}/disk.qcow2")),
        state: VmState::Booting,
    }
}

pub async fn vm_records_round_trip_per_orchestrator(db: &mut TestDb) {
    let [one, two, three] = job_ids();
    let (mut vm2, vm1, vm3) = (vm("vm-2", two, A), vm("vm-1", one, A), vm("vm-3", three, B));
    for record in [&vm2, &vm1, &vm3] {
        db.store.record_vm(record, at(0)).await.unwrap();
    }
    assert_eq!(db.store.vms(A).await.unwrap(), [vm1.clone(), vm2.clone()]);
    assert_eq!(db.store.vms(B).await.unwrap(), [vm3]);
    assert!(db.store.vms(C).await.unwrap().is_empty());

    // Recording again replaces: QEMU was spawned and has a pid now.
    vm2.pid = Some(4242);
    vm2.state = VmState::Running;
    db.store.record_vm(&vm2, at(1)).await.unwrap();
    assert!(db.store.set_vm_state("vm-1", VmState::Stopping, at(2)).await.unwrap());
    assert!(!db.store.set_vm_state("vm-404", VmState::Running, at(2)).await.unwrap());
    let listed = db.store.vms(A).await.unwrap();
    assert_eq!((listed[0].state, listed[1].pid, listed[1].state), (VmState::Stopping, Some(4242), VmState::Running));

    assert!(db.store.remove_vm("vm-1").await.unwrap());
    assert!(!db.store.remove_vm("vm-1").await.unwrap());
    assert_eq!(db.store.vms(A).await.unwrap(), [vm2]);
}

pub async fn paths_that_are_not_utf8_are_refused(db: &mut TestDb) {
    use std::os::unix::ffi::OsStrExt;
    let [job] = job_ids();
    let mut record = vm("vm-1", job, A);
    record.overlay = PathBuf::from(std::ffi::OsStr::from_bytes(b"/var/lib/solstice/\xff.qcow2"));
    let error = db.store.record_vm(&record, at(0)).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid { .. }), "{error:?}");
    assert!(db.store.vms(A).await.unwrap().is_empty());
}

pub async fn corrupt_rows_are_reported(db: &mut TestDb) {
    db.exec(
        "INSERT INTO vms (vm_id, job_id, attempt, orchestrator_id, qmp_socket, overlay, state, updated_at)
         VALUES ('vm-x', 'not-a-ulid', 1, 'orchestrator-a', '/q', '/o', 'running', now())",
        "INSERT INTO vms (vm_id, job_id, attempt, orchestrator_id, qmp_socket, overlay, state, updated_at)
         VALUES ('vm-x', 'not-a-ulid', 1, 'orchestrator-a', '/q', '/o', 'running', 0)",
    )
    .await;
    let error = db.store.vms(A).await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert_eq!(error.to_string(), r#"read a VM record: the database holds the job id "not-a-ulid", which is no ULID"#);
}
