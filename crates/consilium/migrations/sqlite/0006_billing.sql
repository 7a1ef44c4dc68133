-- Billing (R3, R4, R8, R11–R17): the acts recorded when a case is answered, in the same
-- transaction, and the assessment (every side's decision with its rule) kept as it was
-- made. A case never has two acts of the same code.

CREATE TABLE billable_acts (
    id                TEXT PRIMARY KEY,
    case_id           TEXT NOT NULL REFERENCES cases (id),
    side              TEXT NOT NULL CHECK (side IN ('requester', 'expert')),
    code              TEXT NOT NULL,
    professional_id   TEXT NOT NULL REFERENCES professionals (id),
    rpps              TEXT,
    adeli             TEXT,
    patient_id        TEXT NOT NULL REFERENCES patients (id),
    patient_ins       TEXT,
    establishment_id  TEXT REFERENCES organisations (id),
    at                BIGINT NOT NULL,
    amount_cents      BIGINT NOT NULL,
    tiers_payant      BOOLEAN NOT NULL,
    rules_version     TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (case_id, code)
);
CREATE INDEX billable_acts_counter ON billable_acts (professional_id, patient_id, code, at);
CREATE INDEX billable_acts_professional ON billable_acts (professional_id, at);
CREATE INDEX billable_acts_establishment ON billable_acts (establishment_id, at);
CREATE INDEX billable_acts_patient ON billable_acts (patient_id, at);

CREATE TABLE billing_assessments (
    case_id        TEXT PRIMARY KEY REFERENCES cases (id),
    assessed_at    BIGINT NOT NULL,
    rules_version  TEXT NOT NULL,
    assessment     TEXT NOT NULL
);
