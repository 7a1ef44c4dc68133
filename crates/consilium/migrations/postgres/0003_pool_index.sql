-- The inbox's pool half: the cases waiting in a team's pool, in deadline order, answered
-- from the index alone (PostgreSQL reads it index-only; SQLite's planner may prefer
-- `cases_deadline`, which is as fast at these sizes). See docs/benchmarks.md, W2.
CREATE INDEX cases_pool_waiting ON cases (team_id, deadline_at, id)
    WHERE state = 'submitted' AND assigned_expert_id IS NULL;
