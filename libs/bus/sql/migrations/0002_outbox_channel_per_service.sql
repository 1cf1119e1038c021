-- The trigger notifies a channel of the schema's service, instantpost_outbox_<schema without its shard
-- number> (cut to 63 bytes as identifiers are; libs/bus outboxChannel computes the same name), instead of
-- one channel for every service: the services' shards share the physical databases, and each relay was
-- woken by every other service's commits only to drop them. A relay of the code before this listens on
-- the old channel and relays by its fallback poll until it is replaced.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(
    left('instantpost_outbox_' || regexp_replace(TG_TABLE_SCHEMA, '_[0-9]+$', ''), 63),
    TG_TABLE_SCHEMA
  );
  RETURN NULL;
END
$$;
