-- The inbox (W2) reads an expert's open assigned cases in deadline order, plus the cases
-- waiting in their teams' pools. The 0001 index on (assigned_expert_id, deadline_at, id)
-- made the first half walk the expert's whole history, closed cases included, and sort it;
-- SQLite also chose it for the second half, where `assigned_expert_id IS NULL` matches every
-- unassigned case, drafts first. A partial index over open assigned cases is read in
-- deadline order and the scan stops at the page size however long the history grows; the
-- pool half then walks `cases_deadline` (state, deadline_at). See docs/benchmarks.md.
DROP INDEX cases_assigned;
CREATE INDEX cases_assigned_open ON cases (assigned_expert_id, deadline_at, id)
    WHERE state IN ('assigned', 'in_progress', 'awaiting_info');
