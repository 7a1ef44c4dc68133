-- The compte rendu (R10): versioned report documents and their delivery.
-- A case's report starts as draft version 1 when the expert answers. Signing freezes it:
-- the PDF bytes and their SHA-256 are stored and never change (a trigger refuses it). A
-- correction is a new document (version n + 1) naming the one it replaces, never an edit.

CREATE TABLE reports (
    id             TEXT PRIMARY KEY,
    case_id        TEXT NOT NULL REFERENCES cases (id),
    version        BIGINT NOT NULL CHECK (version >= 1),
    previous_id    TEXT REFERENCES reports (id),
    state          TEXT NOT NULL CHECK (state IN ('draft', 'signed')),
    author_id      TEXT NOT NULL REFERENCES professionals (id),
    content        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    signed_at      BIGINT,
    signed_by      TEXT REFERENCES professionals (id),
    pdf            BYTEA,
    pdf_sha256     TEXT,
    CHECK ((state = 'draft' AND signed_at IS NULL AND pdf IS NULL AND pdf_sha256 IS NULL)
        OR (state = 'signed' AND signed_at IS NOT NULL AND signed_by IS NOT NULL
            AND pdf IS NOT NULL AND pdf_sha256 IS NOT NULL)),
    UNIQUE (case_id, version)
);
-- At most one draft per case.
CREATE UNIQUE INDEX reports_one_draft ON reports (case_id) WHERE state = 'draft';

CREATE FUNCTION reports_signed_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'signed' THEN
        RAISE EXCEPTION 'a signed report never changes';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reports_signed_frozen BEFORE UPDATE OR DELETE ON reports
FOR EACH ROW EXECUTE FUNCTION reports_signed_frozen();

CREATE TABLE report_deliveries (
    id               TEXT PRIMARY KEY,
    report_id        TEXT NOT NULL REFERENCES reports (id),
    recipient        TEXT NOT NULL CHECK (recipient IN ('requester', 'medecin_traitant')),
    professional_id  TEXT NOT NULL REFERENCES professionals (id),
    channel          TEXT NOT NULL,
    address          TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'sent', 'in_app_only', 'not_sent', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (report_id, recipient)
);
