-- Helm chart icons (GET /api/v2.0/icons/{digest}), stored by the registry at push from the chart itself
-- (a data: URL in Chart.yaml's icon, or a file of the chart archive it names relatively): the server never
-- fetches a URL. Keyed by the sha256 digest of the bytes; an artifact names its icon by that digest.
CREATE TABLE chart_icons (
    digest       text PRIMARY KEY,
    content_type text NOT NULL,
    content      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE artifacts ADD COLUMN icon text;
