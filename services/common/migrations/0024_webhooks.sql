-- Harbor's webhook policies (a project's Webhooks tab): which of the project's events go to which targets.
-- `targets` is Harbor's WebhookTargetObject list as stored: [{type ("http" or "slack"), address,
-- skip_cert_verify, payload_format ("Default" or "CloudEvents"), auth_header, signing_secret}], the last
-- two Fernet-encrypted with the secret key file ("" for none): auth_header is sent as the Authorization
-- header; signing_secret (Berth's, beyond Harbor) signs each body (X-Berth-Signature).
CREATE TABLE webhook_policies (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    creator     text NOT NULL DEFAULT '',
    enabled     boolean NOT NULL DEFAULT true,
    -- Harbor's event type names (PUSH_ARTIFACT, PULL_ARTIFACT, DELETE_ARTIFACT, QUOTA_EXCEED, ...).
    event_types text[] NOT NULL,
    targets     jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

-- A delivery is a job (type WEBHOOK): Harbor's execution of a policy for one event, with one task (the job
-- itself) per target. Its parameters hold what was decided when the event arrived: {policy_id, project_id,
-- target (the index in targets), event_type, event_id, chain, body (the payload as sent)}. `chain` is
-- "<policy_id>:<target>": the deliveries of one chain go one at a time, in the order their events came (a
-- delivery waiting for the one before it is pending with run_after 'infinity', released when that one ends),
-- and one event is delivered once per chain however often the event stream hands it over.
CREATE INDEX jobs_webhook_policy ON jobs ((parameters->>'policy_id'), id DESC) WHERE type = 'WEBHOOK';
CREATE UNIQUE INDEX jobs_webhook_event ON jobs ((parameters->>'chain'), (parameters->>'event_id'))
    WHERE type = 'WEBHOOK';
CREATE INDEX jobs_webhook_unfinished ON jobs ((parameters->>'chain'), id)
    WHERE type = 'WEBHOOK' AND status IN ('pending', 'running');
