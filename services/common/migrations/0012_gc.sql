-- Garbage collection without a lock on pushes (ARCHITECTURE.md 4a). A blob is 'live' or 'deleting': GC's mark
-- sets 'deleting' (and removes the blob's repository links) in a transaction that re-checks, under row locks
-- it takes without waiting, that no artifact references the blob and nothing uploaded, mounted or linked it
-- within the time window; every push path treats a 'deleting' blob as absent; an upload of the same digest
-- takes it back to 'live' under the same row lock; the sweep deletes the bytes of rows still 'deleting', then
-- the rows, and finishes after a crash what an earlier run marked.
ALTER TABLE blobs
    ADD COLUMN status text NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'deleting')),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX blobs_deleting ON blobs (digest) WHERE status = 'deleting';
CREATE INDEX blobs_live_created ON blobs (created_at) WHERE status = 'live';
