-- What the artifact API's additions show beyond the manifest and config: for a Helm chart its README.md,
-- values.yaml and dependencies, read from the chart layer by the registry at push (core has no storage
-- driver). NULL: not a chart, or a chart whose layer was too large or did not unpack.
ALTER TABLE artifacts ADD COLUMN additions jsonb;
