-- A transaction that set instantpost.outbox_wake to 'local' is relayed by a relay of its own process,
-- which its writer wakes after the commit (libs/bus local-wake.ts): it skips the NOTIFY, which signals
-- every LISTENing backend of the database at each commit. Every other write notifies as before.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('instantpost.outbox_wake', true) = 'local' THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify(
    left('instantpost_outbox_' || regexp_replace(TG_TABLE_SCHEMA, '_[0-9]+$', ''), 63),
    TG_TABLE_SCHEMA
  );
  RETURN NULL;
END
$$;
