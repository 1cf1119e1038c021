-- One row per accepted upload, on the owner's shard (the id comes from this schema's next_id(), so
-- shardOf(id) is the owner's shard). The original is in S3 at originals/<id>.
CREATE TABLE uploads (
  id           bigint      PRIMARY KEY,
  owner_id     bigint      NOT NULL,
  sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes        bigint      NOT NULL CHECK (bytes > 0),
  content_type text        NOT NULL,
  object_key   text        NOT NULL,
  caption      text,
  alt_text     text,
  status       text        NOT NULL DEFAULT 'processing'
                           CHECK (status IN ('processing', 'published', 'rejected')),
  reason       text,
  post_id      bigint,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Dedupe: the same owner uploading the same bytes gets the existing media back. Unique, so two
-- concurrent uploads of the same bytes cannot both insert.
CREATE UNIQUE INDEX uploads_owner_sha256 ON uploads (owner_id, sha256);
