-- notification's tables in one logical shard schema (unqualified names: the runner sets search_path).

-- Actors' names, from account.created/updated, kept on the account's own shard. `changed_at` is the
-- time of the last event applied, so an older event arriving late never overwrites a newer name.
CREATE TABLE users (
  id           bigint PRIMARY KEY,
  username     text,
  display_name text,
  changed_at   timestamptz NOT NULL
);

-- One row per item of a recipient's activity list, on the recipient's shard.
-- kind: like | comment | follow | follow_request | follow_approved | mention.
-- version: a fresh next_id() whenever the item is (re)announced (created, or a like group grows): the
-- list is ordered by it and it is the SSE event id, so Last-Event-ID replays `version > id`.
CREATE TABLE notifications (
  id           bigint PRIMARY KEY DEFAULT next_id(),
  recipient_id bigint      NOT NULL,
  kind         text        NOT NULL,
  post_id      bigint,
  comment_id   bigint,
  actor_count  integer     NOT NULL DEFAULT 1,
  version      bigint      NOT NULL DEFAULT next_id(),
  first_at     timestamptz NOT NULL,   -- time of the first activity (event time), anchors the like window
  last_at      timestamptz NOT NULL,   -- time of the latest activity (event time), shown as createdAt
  read_at      timestamptz
);

CREATE UNIQUE INDEX notifications_recipient_version ON notifications (recipient_id, version);
CREATE INDEX notifications_unread ON notifications (recipient_id) WHERE read_at IS NULL;
CREATE INDEX notifications_open_likes ON notifications (recipient_id, post_id)
  WHERE kind = 'like' AND read_at IS NULL;

-- Who did it: one row per actor of an item (a like group has many).
CREATE TABLE notification_actors (
  notification_id bigint      NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  actor_id        bigint      NOT NULL,
  acted_at        timestamptz NOT NULL,
  PRIMARY KEY (notification_id, actor_id)
);
