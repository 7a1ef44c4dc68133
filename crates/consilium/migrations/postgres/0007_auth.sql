-- Sign-in and access control (issue 3): passwords, sessions, throttling, second factors,
-- one-time links (invitations, password resets), OIDC flows, token scopes.

CREATE TABLE password_credentials (
    professional_id TEXT PRIMARY KEY REFERENCES professionals (id),
    hash            TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- A browser session. The cookie carries a random token; only its SHA-256 is stored.
-- `stage`: 'second_factor' (password given, code expected), 'enrol' (password given, a
-- second factor must be enrolled first) or 'full'.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    stage           TEXT NOT NULL CHECK (stage IN ('second_factor', 'enrol', 'full')),
    method          TEXT NOT NULL,
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    end_reason      TEXT,
    address         TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_professional ON sessions (professional_id, created_at);

-- Failed attempts per key (account or address), in a sliding window; shared by instances.
CREATE TABLE auth_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

-- TOTP (RFC 6238). `last_step` is the last accepted time step: a code is never accepted twice.
CREATE TABLE totp_credentials (
    professional_id TEXT PRIMARY KEY REFERENCES professionals (id),
    secret          TEXT NOT NULL,
    confirmed_at    BIGINT,
    last_step       BIGINT NOT NULL DEFAULT -1,
    created_at      BIGINT NOT NULL
);

-- Single-use links: invitations and password resets (SHA-256 of the token stored).
CREATE TABLE one_time_links (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('invitation', 'reset')),
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    created_by      TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX one_time_links_professional ON one_time_links (professional_id, kind);

-- OpenID Connect authorisation requests in flight: state, nonce and PKCE verifier.
CREATE TABLE oidc_flows (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    used_at       BIGINT
);

-- WebAuthn passkeys (serialised credential).
CREATE TABLE webauthn_credentials (
    id              TEXT PRIMARY KEY,
    professional_id TEXT NOT NULL REFERENCES professionals (id),
    label           TEXT NOT NULL,
    credential      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX webauthn_credentials_professional ON webauthn_credentials (professional_id);

-- Requesters of this organisation must use a second factor too.
ALTER TABLE organisations ADD COLUMN require_second_factor BOOLEAN NOT NULL DEFAULT FALSE;
-- Personal access tokens: 'read' (GET only) or 'write' (everything the user may do).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';
