-- feed's projections, built only from SOCIAL events. Every row that an event can change carries the
-- CloudEvent time of the event that set it (`at`): a write applies only when its event is newer, so
-- duplicate and reordered deliveries converge to the same rows (last writer by event time wins).

-- Accounts (account.created / account.updated), on the user's shard.
CREATE TABLE accounts (
  user_id       bigint PRIMARY KEY,
  username      text,
  display_name  text,
  username_at   timestamptz NOT NULL DEFAULT '-infinity',
  display_at    timestamptz NOT NULL DEFAULT '-infinity'
);

-- The follow edge seen from the followee (fan-out reads it), on the followee's shard.
-- state: 'following' (approved), 'requested' (pending, private account) or 'none' (deleted).
CREATE TABLE followers (
  followee_id  bigint NOT NULL,
  follower_id  bigint NOT NULL,
  state        text NOT NULL CHECK (state IN ('following', 'requested', 'none')),
  at           timestamptz NOT NULL,
  PRIMARY KEY (followee_id, follower_id)
);
CREATE INDEX followers_approved ON followers (followee_id, follower_id) WHERE state = 'following';

-- Approved follower counts, kept in the same transaction as the `followers` transition.
CREATE TABLE follower_counts (
  user_id    bigint PRIMARY KEY,
  followers  integer NOT NULL DEFAULT 0
);
CREATE INDEX follower_counts_big ON follower_counts (followers);

-- The same edge seen from the follower (rebuilds and the read-time merge), on the follower's shard.
CREATE TABLE following (
  follower_id  bigint NOT NULL,
  followee_id  bigint NOT NULL,
  state        text NOT NULL CHECK (state IN ('following', 'requested', 'none')),
  at           timestamptz NOT NULL,
  PRIMARY KEY (follower_id, followee_id)
);

-- Post summaries (post.published / post.deleted), on the author's shard (metadata mints post ids there
-- too; feed relies only on the author id the events and timeline entries carry).
-- A post.deleted that arrives first leaves a tombstone the late post.published cannot revive.
CREATE TABLE posts (
  post_id     bigint PRIMARY KEY,
  author_id   bigint NOT NULL,
  created_at  timestamptz,
  caption     text,
  hashtags    jsonb,
  mentions    jsonb,
  alt_text    text,
  media       jsonb,
  published   boolean NOT NULL DEFAULT false,
  deleted     boolean NOT NULL DEFAULT false
);
CREATE INDEX posts_by_author ON posts (author_id, post_id DESC) WHERE published AND NOT deleted;

-- Counts, on the author's shard; they may exist before the post itself arrives.
CREATE TABLE post_counts (
  post_id        bigint PRIMARY KEY,
  like_count     integer NOT NULL DEFAULT 0,
  comment_count  integer NOT NULL DEFAULT 0
);

-- One row per (post, liker): the like count moves only when `liked` flips, on the author's shard.
CREATE TABLE post_likes (
  post_id  bigint NOT NULL,
  user_id  bigint NOT NULL,
  liked    boolean NOT NULL,
  at       timestamptz NOT NULL,
  PRIMARY KEY (post_id, user_id)
);

-- Comments counted once each (comment id is unique), on the author's shard.
CREATE TABLE post_comments (
  comment_id  bigint PRIMARY KEY,
  post_id     bigint NOT NULL
);

-- Which posts a viewer liked (viewerHasLiked), on the viewer's shard.
CREATE TABLE viewer_likes (
  user_id  bigint NOT NULL,
  post_id  bigint NOT NULL,
  liked    boolean NOT NULL,
  at       timestamptz NOT NULL,
  PRIMARY KEY (user_id, post_id)
);
