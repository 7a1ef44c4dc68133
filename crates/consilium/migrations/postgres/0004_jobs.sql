-- The job queue (issue 5): work done after a commit (mail, timers, routing steps), enqueued
-- in the same transaction as the change that causes it. A worker leases due rows; a lease
-- that runs out (the worker died) makes the row due again. Failed runs retry with
-- exponential backoff; after max_attempts the row is 'dead' and waits for an operator
-- (`consilium jobs list --dead`, `consilium jobs retry ID`).
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'running', 'done', 'dead')),
    due_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL DEFAULT 8,
    lease_token   TEXT,
    lease_until   BIGINT,
    last_error    TEXT,
    dedupe_key    TEXT UNIQUE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
-- Due work: pending rows by due time, running rows by lease expiry.
CREATE INDEX jobs_pending ON jobs (due_at) WHERE state = 'pending';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_dead ON jobs (updated_at) WHERE state = 'dead';
