-- The dedupe of "same owner, same bytes" holds only while the upload is live. A rejection or the deletion
-- of its post releases it (released_at, never unset), so the same bytes can be uploaded again and become a
-- new media. `deleted`: the post was deleted (its status answers 404 to the owner too).
ALTER TABLE uploads ADD COLUMN released_at timestamptz;
UPDATE uploads SET released_at = updated_at WHERE status = 'rejected';
ALTER TABLE uploads DROP CONSTRAINT uploads_status_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_status_check
  CHECK (status IN ('processing', 'published', 'rejected', 'deleted'));
DROP INDEX uploads_owner_sha256;
CREATE UNIQUE INDEX uploads_owner_sha256_live ON uploads (owner_id, sha256) WHERE released_at IS NULL;
