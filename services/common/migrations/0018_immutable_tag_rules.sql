-- Harbor's immutable tag rules (Policy › Tag Immutability): per project, at most 15 (the service's rule).
-- A rule is one repository selector and one tag selector (doublestar globs, matches or excludes); the
-- registry and core read a project's enabled rules inside the transaction that pushes, moves or deletes
-- a tag. The selectors are kept as Harbor's JSON shapes, so the API shows back exactly what it was given.
CREATE TABLE immutable_tag_rules (
    id              bigserial PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    priority        integer NOT NULL DEFAULT 0,
    disabled        boolean NOT NULL DEFAULT false,
    action          text NOT NULL,
    template        text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    tag_selectors   jsonb NOT NULL,
    scope_selectors jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Harbor refuses a second rule with the same selectors in a project (a 409).
CREATE UNIQUE INDEX immutable_tag_rules_unique ON immutable_tag_rules (project_id, tag_selectors, scope_selectors);

-- Every tag's `immutable` flag in core's cached artifact lists depends on the project's rules: any change
-- of a rule empties every process's cache (a payload that is not a repository id clears it all; rules
-- change rarely).
CREATE FUNCTION berth_notify_immutable_tag_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', 'immutable_tag_rules');
    RETURN NULL;
END;
$$;
CREATE TRIGGER immutable_tag_rules_notify AFTER INSERT OR UPDATE OR DELETE ON immutable_tag_rules
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_immutable_tag_rules();
