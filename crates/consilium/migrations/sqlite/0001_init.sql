-- Instants are BIGINT microseconds since the Unix epoch (UTC); ids are UUIDv7 text;
-- JSON documents are TEXT. The same schema on SQLite and PostgreSQL.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('cabinet', 'msp', 'centre_sante', 'hospital_service', 'cpts')),
    finess      TEXT UNIQUE,
    siret       TEXT,
    city        TEXT,
    postcode    TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE professionals (
    id          TEXT PRIMARY KEY,
    rpps        TEXT UNIQUE,
    adeli       TEXT UNIQUE,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    profession  TEXT NOT NULL,
    email       TEXT,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    CHECK (rpps IS NOT NULL OR adeli IS NOT NULL)
);
CREATE INDEX professionals_name ON professionals (last_name, first_name);

CREATE TABLE professional_specialties (
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    specialty       TEXT NOT NULL,
    PRIMARY KEY (professional_id, specialty)
);
CREATE INDEX professional_specialties_specialty ON professional_specialties (specialty);

CREATE TABLE memberships (
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    role            TEXT NOT NULL CHECK (role IN ('member', 'admin')),
    PRIMARY KEY (professional_id, organisation_id)
);
CREATE INDEX memberships_organisation ON memberships (organisation_id);

CREATE TABLE teams (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    name            TEXT NOT NULL,
    specialty       TEXT NOT NULL,
    policy          TEXT NOT NULL DEFAULT 'self_service'
                    CHECK (policy IN ('self_service', 'auto_assign', 'moderated', 'hybrid')),
    created_at      BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id         TEXT NOT NULL REFERENCES teams (id),
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    is_assigner     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (team_id, professional_id)
);
CREATE INDEX team_members_professional ON team_members (professional_id);

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    token_hash      TEXT NOT NULL UNIQUE,
    label           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX api_tokens_professional ON api_tokens (professional_id);

CREATE TABLE patients (
    id                    TEXT PRIMARY KEY,
    created_by            TEXT NOT NULL REFERENCES professionals (id),
    birth_family_name     TEXT NOT NULL,
    used_family_name      TEXT,
    given_names           TEXT NOT NULL,
    birth_date            TEXT NOT NULL,
    sex                   TEXT NOT NULL CHECK (sex IN ('F', 'M', 'U')),
    birth_place_code      TEXT,
    ins                   TEXT,
    ins_kind              TEXT CHECK (ins_kind IN ('NIR', 'NIA')),
    identity_status       TEXT NOT NULL CHECK (identity_status IN ('provisional', 'qualified')),
    medecin_traitant_id   TEXT REFERENCES professionals (id),
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    CHECK (identity_status = 'provisional' OR ins IS NOT NULL)
);
CREATE INDEX patients_created_by ON patients (created_by, created_at);
CREATE INDEX patients_ins ON patients (ins);

CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);

CREATE TABLE cases (
    id                    TEXT PRIMARY KEY,
    number                TEXT NOT NULL UNIQUE,
    patient_id            TEXT NOT NULL REFERENCES patients (id),
    requester_id          TEXT NOT NULL REFERENCES professionals (id),
    state                 TEXT NOT NULL,
    specialty             TEXT,
    target_expert_id      TEXT REFERENCES professionals (id),
    target_team_id        TEXT REFERENCES teams (id),
    team_id               TEXT REFERENCES teams (id),
    assigned_expert_id    TEXT REFERENCES professionals (id),
    urgency               TEXT NOT NULL DEFAULT 'routine',
    reason                TEXT NOT NULL DEFAULT '',
    question              TEXT NOT NULL DEFAULT '',
    clinical_context      TEXT NOT NULL DEFAULT '',
    consent_status        TEXT NOT NULL DEFAULT 'pending'
                          CHECK (consent_status IN ('pending', 'given', 'refused')),
    consent_method        TEXT,
    consent_collected_by  TEXT REFERENCES professionals (id),
    consent_collected_at  BIGINT,
    patient_informed      BOOLEAN NOT NULL DEFAULT FALSE,
    submitted_at          BIGINT,
    deadline_at           BIGINT,
    accepted_at           BIGINT,
    answered_at           BIGINT,
    closed_at             BIGINT,
    awaiting_since        BIGINT,
    awaiting_info_us      BIGINT NOT NULL DEFAULT 0,
    decline_reason        TEXT,
    decline_comment       TEXT,
    opinion               TEXT,
    outcome               TEXT,
    version               BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX cases_requester ON cases (requester_id, created_at, id);
CREATE INDEX cases_assigned ON cases (assigned_expert_id, deadline_at, id);
CREATE INDEX cases_pool ON cases (team_id, state, deadline_at, id);
CREATE INDEX cases_deadline ON cases (state, deadline_at);
CREATE INDEX cases_patient ON cases (patient_id);

CREATE TABLE case_events (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    at          BIGINT NOT NULL,
    actor_id    TEXT REFERENCES professionals (id),
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, at);

CREATE TABLE case_messages (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    author_id   TEXT NOT NULL REFERENCES professionals (id),
    kind        TEXT NOT NULL DEFAULT 'message',
    body        TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX case_messages_case ON case_messages (case_id, at);

CREATE TABLE idempotency_keys (
    actor_id     TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (actor_id, idem_key)
);

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only, sequence-numbered, hash-chained (see src/audit).
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
