-- Handlers run concurrently, so an unlike can be handled before the like it undoes. The unlike is
-- remembered here (one row per recipient, post and actor, the newest unlike's time) and a like older than
-- it is ignored when it arrives; a newer like (liked again) goes through.
CREATE TABLE unlikes (
  recipient_id bigint      NOT NULL,
  post_id      bigint      NOT NULL,
  actor_id     bigint      NOT NULL,
  unliked_at   timestamptz NOT NULL,
  PRIMARY KEY (recipient_id, post_id, actor_id)
);
