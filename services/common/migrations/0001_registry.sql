-- The registry's metadata. Blob bytes live in the storage driver, content-addressed; every row here that
-- names a blob is written only after the blob is durable in storage, so the two never disagree.
-- Names and tags use the "C" collation: the spec lists them in byte order, and `last` pagination must
-- follow that order whatever the server's default collation is.

CREATE TABLE repositories (
    id          bigserial PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per distinct blob, shared by every repository that links it.
CREATE TABLE blobs (
    digest      text PRIMARY KEY,
    size        bigint NOT NULL CHECK (size >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which repositories may serve a blob (pushed or mounted there).
CREATE TABLE repository_blobs (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        text NOT NULL REFERENCES blobs (digest),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

-- A manifest (image, index or artifact) in a repository; its exact bytes are kept here.
CREATE TABLE artifacts (
    id             bigserial PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest         text NOT NULL,
    media_type     text NOT NULL,
    artifact_type  text,
    size           bigint NOT NULL,
    subject_digest text,
    annotations    jsonb,
    content        bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, digest)
);
CREATE INDEX artifacts_subject ON artifacts (repository_id, subject_digest) WHERE subject_digest IS NOT NULL;

CREATE TABLE tags (
    id            bigserial PRIMARY KEY,
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    artifact_id   bigint NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    name          text COLLATE "C" NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, name)
);
CREATE INDEX tags_artifact ON tags (artifact_id);

-- Manifest → blob references (config and layers): what garbage collection keeps.
CREATE TABLE artifact_blobs (
    artifact_id bigint NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    digest      text NOT NULL REFERENCES blobs (digest),
    PRIMARY KEY (artifact_id, digest)
);
CREATE INDEX artifact_blobs_digest ON artifact_blobs (digest);

-- Index → child manifest references; a child cannot be deleted while an index names it.
CREATE TABLE artifact_references (
    parent_id bigint NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    child_id  bigint NOT NULL REFERENCES artifacts (id) ON DELETE RESTRICT,
    platform  jsonb,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX artifact_references_child ON artifact_references (child_id);

-- Chunked uploads in progress; `size` is the acknowledged length, so a restart resumes exactly there.
CREATE TABLE uploads (
    id          uuid PRIMARY KEY,
    repository  text NOT NULL,
    size        bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_updated ON uploads (updated_at);
