-- A team may hide the patient's identity in its pool (issue 3): team-mates and assigners who
-- see a request waiting in the pool get a preview without the patient's names, birth date,
-- birth place or INS; whoever claims it (or is assigned it) sees the identity. Default: shown.
ALTER TABLE teams ADD COLUMN hide_identity_in_pool BOOLEAN NOT NULL DEFAULT FALSE;
