-- Artifact lists and their counts (the artifacts API, a repository's artifact_count) go by repository
-- in push order and hide accessories by their subject_digest. With subject_digest in the index they read
-- the index alone (an index-only scan) instead of one wide heap row per artifact: a deep page or the count
-- of a repository with 25,000 artifacts went from thousands of heap pages to ~150 index pages.
CREATE INDEX artifacts_repository_list ON artifacts (repository_id, created_at DESC, id DESC)
    INCLUDE (subject_digest);
DROP INDEX artifacts_repository_created;

-- A repository's indexes (OCI index, Docker manifest list), whose children the lists hide: the set of
-- those children is read through it once per repository (see _top_level in services/core/artifacts/store.py).
CREATE INDEX artifacts_repository_indexes ON artifacts (repository_id)
    WHERE media_type IN ('application/vnd.docker.distribution.manifest.list.v2+json',
                         'application/vnd.oci.image.index.v1+json');
