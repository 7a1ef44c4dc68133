-- Notifications (issue 5): in-app events per user (unread until marked read), each mailed
-- at once or in a daily digest according to the user's setting. They name a case by its
-- number and id only: never patient data.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    kind            TEXT NOT NULL,
    case_id         TEXT REFERENCES cases (id),
    case_number     TEXT,
    created_at      BIGINT NOT NULL,
    read_at         BIGINT,
    emailed_at      BIGINT
);
CREATE INDEX notifications_recipient ON notifications (professional_id, created_at, id);

CREATE TABLE notification_settings (
    professional_id TEXT PRIMARY KEY REFERENCES professionals (id),
    email           TEXT NOT NULL CHECK (email IN ('immediate', 'digest', 'off')),
    updated_at      BIGINT NOT NULL
);
