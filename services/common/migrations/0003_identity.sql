-- Identity: users, groups, projects, members and robot accounts (Harbor's model).
-- Names use the "C" collation: compared and sorted byte for byte, whatever the server's locale, so
-- `Library` and `library` are two names and a lookup never depends on the database's collation.

CREATE TABLE users (
    id                  bigserial PRIMARY KEY,
    username            text COLLATE "C" NOT NULL UNIQUE,
    email               text UNIQUE,
    realname            text NOT NULL DEFAULT '',
    comment             text NOT NULL DEFAULT '',
    -- argon2id (PHC string); NULL for accounts that authenticate elsewhere (LDAP).
    password_hash       text,
    sysadmin            boolean NOT NULL DEFAULT false,
    auth_source         text NOT NULL DEFAULT 'db' CHECK (auth_source IN ('db', 'ldap')),
    ldap_dn             text UNIQUE,
    -- Part of the credential cache's key: a changed password drops every cached check at once.
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted             boolean NOT NULL DEFAULT false
);
-- Id 1 is the admin (as in Harbor), inserted by the bootstrap; everyone else numbers from 2.
SELECT setval(pg_get_serial_sequence('users', 'id'), 1);

CREATE TABLE user_groups (
    id          bigserial PRIMARY KEY,
    name        text COLLATE "C" NOT NULL,
    -- 1 LDAP (Harbor also has 2 HTTP and 3 OIDC).
    group_type  smallint NOT NULL DEFAULT 1 CHECK (group_type IN (1, 2, 3)),
    ldap_dn     text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_group_members (
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_group_members_group ON user_group_members (group_id);

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE,
    owner_id    bigint NOT NULL REFERENCES users (id),
    public      boolean NOT NULL DEFAULT false,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Id 1 is `library` (as in Harbor), created by the bootstrap.
SELECT setval(pg_get_serial_sequence('projects', 'id'), 1);
CREATE INDEX projects_owner ON projects (owner_id);

-- A user ('u') or a group ('g') with one of Harbor's roles: 1 projectAdmin, 2 developer, 3 guest,
-- 4 maintainer, 5 limitedGuest. entity_id names a users or user_groups row depending on entity_type.
CREATE TABLE project_members (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    entity_type char(1) NOT NULL CHECK (entity_type IN ('u', 'g')),
    entity_id   bigint NOT NULL,
    role        smallint NOT NULL CHECK (role BETWEEN 1 AND 5),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, entity_type, entity_id)
);
-- "Which projects is this user (or group) a member of": the token service's per-request lookup goes by
-- project, the unique index above; listing a user's projects goes by entity.
CREATE INDEX project_members_entity ON project_members (entity_type, entity_id);

CREATE TABLE robots (
    id          bigserial PRIMARY KEY,
    -- The full name a client logs in with: robot$<project>+<name> or robot$<name>.
    name        text COLLATE "C" NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    secret_hash text NOT NULL,
    level       text NOT NULL CHECK (level IN ('system', 'project')),
    project_id  bigint REFERENCES projects (id) ON DELETE CASCADE,
    disabled    boolean NOT NULL DEFAULT false,
    -- NULL: never expires.
    expires_at  timestamptz,
    -- Harbor's robot permissions: [{"kind", "namespace", "access": [{"resource", "action"}]}].
    permissions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(permissions) = 'array'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'project') = (project_id IS NOT NULL))
);
CREATE INDEX robots_project ON robots (project_id) WHERE project_id IS NOT NULL;
