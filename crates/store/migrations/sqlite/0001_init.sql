-- The orchestrators' and runners' durable state (brief §3.2, §3.5), the same tables as
-- migrations/postgres with SQLite's types: timestamps are INTEGER microseconds since the Unix
-- epoch (they compare as numbers; PostgreSQL keeps microseconds too), JSON is TEXT. Tables are
-- STRICT so a value of the wrong type is refused instead of stored.

-- One row per job. `request` is the latest attempt's JobRequest JSON with its secrets still
-- sealed: the store never holds a secret in clear. `attempt` and `state` mirror the latest
-- attempt, kept in step by the same transactions that change it.
CREATE TABLE jobs (
    job_id      TEXT PRIMARY KEY,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    state       TEXT NOT NULL CHECK (state IN ('queued', 'started', 'finished')),
    label       TEXT NOT NULL,
    runner_id   TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (json_valid(origin)),
    request     TEXT NOT NULL CHECK (json_valid(request)),
    recorded_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- A job's ordered attempts. `orchestrator_id` owns the attempt: it recorded it, started it or
-- took it over from a peer whose lease expired.
CREATE TABLE attempts (
    job_id          TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL CHECK (attempt >= 1),
    orchestrator_id TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'started', 'finished')),
    recorded_at     INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    result          TEXT CHECK (result IN ('success', 'failure', 'cancelled', 'skipped')),
    error           TEXT,
    PRIMARY KEY (job_id, attempt)
) STRICT;
CREATE INDEX attempts_unfinished ON attempts (orchestrator_id) WHERE state <> 'finished';

-- One lease per orchestrator; a heartbeat pushes `expires_at` forward. A peer may take over
-- the attempts of an orchestrator only once its lease has expired, and deletes the lease when
-- it does (so exactly one peer can).
CREATE TABLE leases (
    orchestrator_id TEXT PRIMARY KEY,
    expires_at      INTEGER NOT NULL,
    renewed_at      INTEGER NOT NULL
) STRICT;

-- VMs an orchestrator started, for its reconcile loop after a restart. `pid` is unknown until
-- QEMU is spawned.
CREATE TABLE vms (
    vm_id           TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL,
    attempt         INTEGER NOT NULL CHECK (attempt >= 1),
    orchestrator_id TEXT NOT NULL,
    pid             INTEGER CHECK (pid >= 0),
    qmp_socket      TEXT NOT NULL,
    overlay         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('booting', 'running', 'stopping')),
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX vms_orchestrator ON vms (orchestrator_id);

-- The sequencer's high-water mark per job attempt: the last `seq` handed out.
CREATE TABLE sequences (
    job_id   TEXT NOT NULL,
    attempt  INTEGER NOT NULL CHECK (attempt >= 1),
    last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
    PRIMARY KEY (job_id, attempt)
) STRICT;

-- Cancels, recorded before the cancel message is acked so a job still queued never starts.
-- `attempt` 0 stands for every attempt of the job (a NULL could not be part of the key).
CREATE TABLE tombstones (
    job_id     TEXT NOT NULL,
    attempt    INTEGER NOT NULL CHECK (attempt >= 0),
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, attempt)
) STRICT;
CREATE INDEX tombstones_created ON tombstones (created_at);

-- Whatever a forge runner needs to survive its own restart, per task, as JSON it alone reads.
CREATE TABLE runner_tasks (
    runner_id  TEXT NOT NULL,
    task_ref   TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (json_valid(state)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (runner_id, task_ref)
) STRICT;
