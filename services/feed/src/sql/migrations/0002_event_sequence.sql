-- Ties on event time (two events on one row within the same millisecond) are broken by the event's
-- SOCIAL stream sequence: the order JetStream stored them in, which a replay of the stream reproduces.
ALTER TABLE accounts ADD COLUMN username_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN display_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE followers ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE following ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE post_likes ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE viewer_likes ADD COLUMN seq bigint NOT NULL DEFAULT 0;
