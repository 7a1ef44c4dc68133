-- When each person last opened a case's page: messages from others after that are unread.
CREATE TABLE case_reads (
    case_id         TEXT NOT NULL REFERENCES cases (id),
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    last_read_at    BIGINT NOT NULL,
    PRIMARY KEY (case_id, professional_id)
);
