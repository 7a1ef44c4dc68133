-- Signed webhooks for practice software (issue 5): a professional (for the cases they send
-- or hold) or an organisation (for its members' cases and its teams' cases) registers an
-- https URL; each case event is delivered by a `webhook.deliver` job queued in the same
-- transaction as the change, signed with HMAC-SHA256 under `secret`. `events` is a JSON
-- array of event types (empty: all). The payload names a case by id, number, state and
-- link only: never patient data.
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    owner_kind       TEXT NOT NULL CHECK (owner_kind IN ('professional', 'organisation')),
    owner_id         TEXT NOT NULL,
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,
    events           TEXT NOT NULL DEFAULT '[]',
    created_by       TEXT NOT NULL REFERENCES professionals (id),
    created_at       BIGINT NOT NULL,
    last_attempt_at  BIGINT,
    last_outcome     TEXT
);
CREATE INDEX webhooks_owner ON webhooks (owner_kind, owner_id);
