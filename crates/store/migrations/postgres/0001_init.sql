-- The orchestrators' and runners' durable state (brief §3.2, §3.5). Timestamps are timestamptz;
-- ids are text (job ids are ULIDs). Every state column names its allowed words in a CHECK so a
-- row the code cannot read is refused at write time.

-- One row per job. `request` is the latest attempt's JobRequest JSON with its secrets still
-- sealed: the store never holds a secret in clear. It is `json`, not `jsonb`: it is stored and
-- read whole, and jsonb would refuse a NUL (`\u0000`) that a workflow may well contain.
-- `attempt` and `state` mirror the latest attempt, kept in step by the same transactions that
-- change it.
CREATE TABLE jobs (
    job_id      TEXT PRIMARY KEY,
    attempt     BIGINT NOT NULL CHECK (attempt >= 1),
    state       TEXT NOT NULL CHECK (state IN ('queued', 'started', 'finished')),
    label       TEXT NOT NULL,
    runner_id   TEXT NOT NULL,
    origin      JSONB NOT NULL,
    request     JSON NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- A job's ordered attempts. `orchestrator_id` owns the attempt: it recorded it, started it or
-- took it over from a peer whose lease expired.
CREATE TABLE attempts (
    job_id          TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    attempt         BIGINT NOT NULL CHECK (attempt >= 1),
    orchestrator_id TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'started', 'finished')),
    recorded_at     TIMESTAMPTZ NOT NULL,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    result          TEXT CHECK (result IN ('success', 'failure', 'cancelled', 'skipped')),
    error           TEXT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX attempts_unfinished ON attempts (orchestrator_id) WHERE state <> 'finished';

-- One lease per orchestrator; a heartbeat pushes `expires_at` forward. A peer may take over
-- the attempts of an orchestrator only once its lease has expired, and deletes the lease when
-- it does (so exactly one peer can).
CREATE TABLE leases (
    orchestrator_id TEXT PRIMARY KEY,
    expires_at      TIMESTAMPTZ NOT NULL,
    renewed_at      TIMESTAMPTZ NOT NULL
);

-- VMs an orchestrator started, for its reconcile loop after a restart. `pid` is unknown until
-- QEMU is spawned.
CREATE TABLE vms (
    vm_id           TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL,
    attempt         BIGINT NOT NULL CHECK (attempt >= 1),
    orchestrator_id TEXT NOT NULL,
    pid             BIGINT CHECK (pid >= 0),
    qmp_socket      TEXT NOT NULL,
    overlay         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('booting', 'running', 'stopping')),
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX vms_orchestrator ON vms (orchestrator_id);

-- The sequencer's high-water mark per job attempt: the last `seq` handed out.
CREATE TABLE sequences (
    job_id   TEXT NOT NULL,
    attempt  BIGINT NOT NULL CHECK (attempt >= 1),
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0),
    PRIMARY KEY (job_id, attempt)
);

-- Cancels, recorded before the cancel message is acked so a job still queued never starts.
-- `attempt` 0 stands for every attempt of the job (a NULL could not be part of the key).
CREATE TABLE tombstones (
    job_id     TEXT NOT NULL,
    attempt    BIGINT NOT NULL CHECK (attempt >= 0),
    reason     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX tombstones_created ON tombstones (created_at);

-- Whatever a forge runner needs to survive its own restart, per task, as JSON it alone reads
-- (`json` for the same reason as `jobs.request`).
CREATE TABLE runner_tasks (
    runner_id  TEXT NOT NULL,
    task_ref   TEXT NOT NULL,
    state      JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (runner_id, task_ref)
);
