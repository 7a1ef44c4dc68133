-- Team assignment policies (issue 5): how an auto-assigning team orders its members, how
-- long an offered expert has to accept, how long a hybrid team's pool waits before the
-- platform assigns, and who got the previous request (round robin).
ALTER TABLE teams ADD COLUMN assign_strategy TEXT NOT NULL DEFAULT 'round_robin'
    CHECK (assign_strategy IN ('round_robin', 'least_loaded'));
ALTER TABLE teams ADD COLUMN accept_hours BIGINT NOT NULL DEFAULT 24 CHECK (accept_hours > 0);
ALTER TABLE teams ADD COLUMN hybrid_hours BIGINT NOT NULL DEFAULT 24 CHECK (hybrid_hours > 0);
ALTER TABLE teams ADD COLUMN last_assigned_id TEXT;

-- Every offer of a case to an expert by the platform, and how it ended: an expert is
-- offered a case once; the next offer skips everyone already tried.
CREATE TABLE case_offers (
    case_id     TEXT NOT NULL REFERENCES cases (id),
    expert_id   TEXT NOT NULL REFERENCES professionals (id),
    offered_at  BIGINT NOT NULL,
    until_at    BIGINT NOT NULL,
    outcome     TEXT CHECK (outcome IN ('lapsed', 'accepted', 'returned')),
    PRIMARY KEY (case_id, expert_id)
);
