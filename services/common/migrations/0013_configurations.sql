-- System configuration changed at run time (PUT /api/v2.0/configurations): one row per key that differs
-- from berth.yml's default, its value as JSON. A change notifies 'berth_config' at commit (a trigger, so
-- SQL by hand is seen too); every process reads the table again then.
CREATE TABLE configurations (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION berth_notify_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_config', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER configurations_change_notify AFTER INSERT OR UPDATE OR DELETE ON configurations
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_config_change();
