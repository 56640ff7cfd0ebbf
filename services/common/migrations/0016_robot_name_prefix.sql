-- robot_name_prefix is a run-time configuration key: each robot keeps the prefix it was created with, so
-- the token service and core still recognize robots named before a change (services/common/auth/robot_names.py
-- reads the distinct prefixes after every configuration change).
ALTER TABLE robots ADD COLUMN name_prefix text COLLATE "C" NOT NULL DEFAULT 'robot$';
