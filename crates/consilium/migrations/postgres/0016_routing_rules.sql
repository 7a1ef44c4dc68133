-- Routing rules (issue 5): acceptance rules per expert and per team, absences of an expert
-- with an optional delegate, and a team's on-call rota. Lists are JSON arrays of strings
-- (TEXT); an empty list accepts anything. Instants are microseconds since the epoch, UTC.
CREATE TABLE acceptance_rules (
    owner_kind    TEXT NOT NULL CHECK (owner_kind IN ('professional', 'team')),
    owner_id      TEXT NOT NULL,
    professions   TEXT NOT NULL DEFAULT '[]',
    departements  TEXT NOT NULL DEFAULT '[]',
    regions       TEXT NOT NULL DEFAULT '[]',
    postcodes     TEXT NOT NULL DEFAULT '[]',
    max_open      BIGINT CHECK (max_open IS NULL OR max_open > 0),
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);

CREATE TABLE absences (
    id               TEXT PRIMARY KEY,
    professional_id  TEXT NOT NULL REFERENCES professionals (id),
    from_at          BIGINT NOT NULL,
    to_at            BIGINT NOT NULL,
    delegate_id      TEXT REFERENCES professionals (id),
    created_at       BIGINT NOT NULL,
    CHECK (from_at < to_at),
    CHECK (delegate_id IS NULL OR delegate_id <> professional_id)
);
CREATE INDEX absences_professional ON absences (professional_id, to_at);
CREATE INDEX absences_current ON absences (to_at, from_at);

-- A team with at least one slot has a rota: its members take auto-assigned requests only
-- during their slots.
CREATE TABLE rota_slots (
    team_id          TEXT NOT NULL REFERENCES teams (id),
    professional_id  TEXT NOT NULL REFERENCES professionals (id),
    from_at          BIGINT NOT NULL,
    to_at            BIGINT NOT NULL,
    CHECK (from_at < to_at)
);
CREATE INDEX rota_slots_team ON rota_slots (team_id, professional_id);

-- The expected delay of experts and teams: answered cases by answer time.
CREATE INDEX cases_answered ON cases (answered_at);
