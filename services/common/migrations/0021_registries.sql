-- Harbor's registry endpoints (Administration › Registries): the remote registries replication pushes to
-- and pulls from. The password (access_secret) is stored encrypted with the secret key file
-- (services/common/secret_key.py) and never shown again; `status` is what the last health check found
-- (healthy, unhealthy), with the reason beside it, so an operator sees why without pinging again.
CREATE TABLE registries (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    description     text NOT NULL DEFAULT '',
    type            text NOT NULL,
    url             text NOT NULL,
    insecure        boolean NOT NULL DEFAULT false,
    -- PEM text of a CA to trust instead of the system's; '' for none.
    ca_certificate  text NOT NULL DEFAULT '',
    credential_type text NOT NULL DEFAULT '',
    access_key      text NOT NULL DEFAULT '',
    -- Fernet ciphertext of the password; '' for none.
    access_secret   text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'unknown',
    status_reason   text NOT NULL DEFAULT '',
    checked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
