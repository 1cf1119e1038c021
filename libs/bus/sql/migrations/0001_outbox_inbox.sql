-- The bus tables of one logical shard. Applied by the shard migration runner with
-- `SET LOCAL search_path TO <shard schema>`, so names are unqualified.

-- Transactional outbox: events written in the same transaction as the state change they describe.
-- The relay publishes unsent rows (sent_at IS NULL) in id order and marks them sent after the
-- JetStream ack; sent rows are pruned after a retention.
CREATE TABLE outbox (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id    text        NOT NULL,           -- CloudEvents id, sent as Nats-Msg-Id
  subject     text        NOT NULL,           -- CloudEvents type = subject, without any prefix
  payload     text        NOT NULL,           -- the serialized CloudEvent, published byte for byte
  traceparent text,                           -- W3C trace context of the writing transaction
  created_at  timestamptz NOT NULL DEFAULT now(),
  sent_at     timestamptz,
  attempts    integer     NOT NULL DEFAULT 0, -- failed publish attempts
  last_error  text
);

-- What the relay claims: unsent rows, oldest first. Partial, so it stays small.
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
-- What pruning deletes.
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wakes the relays (LISTEN instantpost_outbox) when a transaction that wrote events commits;
-- the payload names the shard schema. Rolled-back transactions notify nothing.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('instantpost_outbox', TG_TABLE_SCHEMA);
  RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent consumers: one row per (consumer, event) handled, inserted in the handler's own
-- transaction, so a redelivered or replayed event changes nothing the second time.
CREATE TABLE inbox (
  consumer     text        NOT NULL,
  event_id     text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

CREATE INDEX inbox_processed_at ON inbox (processed_at);
