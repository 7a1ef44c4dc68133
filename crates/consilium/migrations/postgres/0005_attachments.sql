-- Attachments (issue 4): encrypted blobs in the blob store, their rows here.
-- One data key per case, wrapped by the key-encryption key `kek_id`; destroying it
-- (`wrapped` set to NULL, `destroyed_at` set) makes the case's blobs unreadable.
CREATE TABLE case_keys (
    case_id      TEXT PRIMARY KEY REFERENCES cases (id),
    kek_id       TEXT,
    wrapped      TEXT,
    created_at   BIGINT NOT NULL,
    destroyed_at BIGINT,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE INDEX case_keys_kek ON case_keys (kek_id);

-- `size` and `sha256` describe the stored (served) content: for re-encoded images, the
-- re-encoded file; `uploaded_size` and `uploaded_sha256` what the client sent.
CREATE TABLE attachments (
    id                 TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL REFERENCES cases (id),
    uploaded_by        TEXT NOT NULL REFERENCES professionals (id),
    uploaded_at        BIGINT NOT NULL,
    display_name       TEXT NOT NULL,
    kind               TEXT NOT NULL,
    media_type         TEXT NOT NULL,
    size               BIGINT NOT NULL,
    sha256             TEXT NOT NULL,
    uploaded_size      BIGINT NOT NULL,
    uploaded_sha256    TEXT NOT NULL,
    width              BIGINT,
    height             BIGINT,
    wrapped_key        TEXT NOT NULL,
    blob_key           TEXT NOT NULL UNIQUE,
    thumb_blob_key     TEXT UNIQUE,
    thumb_size         BIGINT,
    original_blob_key  TEXT UNIQUE,
    notes              TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX attachments_case ON attachments (case_id, uploaded_at, id);
