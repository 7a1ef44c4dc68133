-- Done jobs are purged after `jobs_done_retention_days` (issue 5): find them by age.
CREATE INDEX jobs_done ON jobs (updated_at) WHERE state = 'done';
