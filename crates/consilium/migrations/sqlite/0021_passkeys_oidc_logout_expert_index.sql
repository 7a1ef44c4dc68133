-- WebAuthn passkeys as a second factor (issue 3). The placeholder table of 0007 was never
-- written to; it is replaced by one that knows each credential's id (unique: a credential
-- belongs to one account) and its own label.
DROP TABLE webauthn_credentials;

CREATE TABLE webauthn_credentials (
    id              TEXT PRIMARY KEY,
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    -- base64url of the credential id the authenticator chose.
    credential_id   TEXT NOT NULL UNIQUE,
    label           TEXT NOT NULL,
    -- The verified public key, its algorithm, signature counter and backup state, as
    -- serialised by webauthn-rs (`Passkey`); nothing secret.
    credential      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX webauthn_credentials_professional ON webauthn_credentials (professional_id);

-- A ceremony in flight (registration or authentication): the challenge and what it expects,
-- kept between its two requests so that any instance can finish it, taken once.
CREATE TABLE webauthn_ceremonies (
    session_id TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('register', 'authenticate')),
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The cases of an expert in any state (the unread-messages count of every page reads the
-- cases assigned to the viewer, answered ones included; the partial index
-- `cases_assigned_open` of 0002 covers only the open states).
CREATE INDEX cases_expert ON cases (assigned_expert_id, state);

-- The ID token of a session opened with the OpenID provider, kept until the session ends:
-- signing out sends it back as `id_token_hint`, so the provider ends its own session too
-- (RP-initiated logout). Cleared when the session ends.
ALTER TABLE sessions ADD COLUMN oidc_id_token TEXT;
