-- The REST API's repositories and artifacts (Harbor's /projects/{p}/repositories/...).

-- Harbor's repository description, set with PUT .../repositories/{r}.
ALTER TABLE repositories ADD COLUMN description text NOT NULL DEFAULT '';

-- An image's config JSON (architecture, os, created, author, config), copied from its config blob when
-- the registry accepts the manifest (the blob is durable by then). Core has no storage driver, and
-- the artifact list shows these for every row of a page, so they are kept next to the manifest, bounded
-- in size by the registry (NULL: no config, not JSON, or too large).
ALTER TABLE artifacts ADD COLUMN config jsonb;

-- Artifact lists go by repository in push order (newest first by default); with the id as tie-break
-- a page is an index range.
CREATE INDEX artifacts_repository_created ON artifacts (repository_id, created_at DESC, id DESC);
