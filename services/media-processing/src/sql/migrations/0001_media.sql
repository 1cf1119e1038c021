-- One row per media this service was asked to process, on the shard of the media id: what came in
-- (the media.uploaded data, so an operator can re-process without the event), the attempts, and the
-- outcome (the media.processed data, or the rejection reason).
CREATE TABLE media (
  media_id         bigint PRIMARY KEY,
  owner_id         bigint NOT NULL,
  source           jsonb NOT NULL,
  sha256           text NOT NULL,
  status           text NOT NULL DEFAULT 'processing'
                   CHECK (status IN ('processing', 'processed', 'rejected')),
  pipeline_version integer,
  result           jsonb,
  reason           text,
  attempts         integer NOT NULL DEFAULT 0,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX media_status_idx ON media (status, updated_at);
