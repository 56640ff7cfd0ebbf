-- Harbor's labels: global (scope 'g', no project) or of one project (scope 'p'), and the artifacts
-- carrying them. A name is unique within its scope and project (Harbor's rule), a global label and a
-- project label may share one.
CREATE TABLE labels (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    color       text NOT NULL DEFAULT '',
    scope       char(1) NOT NULL CHECK (scope IN ('g', 'p')),
    -- A project's labels go with the project.
    project_id  bigint REFERENCES projects (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'g') = (project_id IS NULL))
);
CREATE UNIQUE INDEX labels_scope_name ON labels (COALESCE(project_id, 0), name);

-- An artifact goes with its labels' rows, and a label with every reference to it (the registry deletes
-- artifacts without knowing labels exist).
CREATE TABLE artifact_labels (
    artifact_id bigint NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    label_id    bigint NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (artifact_id, label_id)
);
-- "Which artifacts carry this label": the artifacts list's label filter and a label's delete.
CREATE INDEX artifact_labels_label ON artifact_labels (label_id, artifact_id);
