-- An expert's reusable answer texts (the answer form's "my templates").
CREATE TABLE answer_templates (
    id              TEXT PRIMARY KEY,
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX answer_templates_owner ON answer_templates (professional_id, created_at);
