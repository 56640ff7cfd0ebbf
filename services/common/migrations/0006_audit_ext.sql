-- Harbor 2.13's extended audit log (AuditLogExt) in the same table: a description of the operation and
-- whether it succeeded. Changes are recorded only when they commit (result true); a failed login is the one
-- failure recorded, as Harbor does. Rows written before this migration were all successes.
ALTER TABLE audit_log ADD COLUMN operation_description text NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN operation_result boolean NOT NULL DEFAULT true;
