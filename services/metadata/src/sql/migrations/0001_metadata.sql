-- Accounts live on the user's logical shard (the shard is embedded in the id).
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  username text NOT NULL UNIQUE,
  display_name text NOT NULL DEFAULT '',
  bio text NOT NULL DEFAULT '',
  is_private boolean NOT NULL DEFAULT false,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The global username index, partitioned by shardForKey(username). A claim is confirmed once the
-- account row exists; an unconfirmed claim older than a few minutes (a crashed sign-up) may be retaken.
CREATE TABLE usernames (
  username text PRIMARY KEY,
  user_id bigint NOT NULL,
  confirmed boolean NOT NULL DEFAULT false,
  claimed_at timestamptz NOT NULL DEFAULT now()
);

-- Refresh-token sessions on the user's shard; only a hash of the current secret is kept.
CREATE TABLE sessions (
  id bigint PRIMARY KEY DEFAULT next_id(),
  user_id bigint NOT NULL,
  secret_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Outgoing edges: the source of truth, on the follower's shard. Rows are never deleted (state 'none'),
-- and every change bumps version, so the mirror below can apply changes in any order.
CREATE TABLE following (
  follower_id bigint NOT NULL,
  followee_id bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('following', 'requested', 'none')),
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX following_active ON following (follower_id, followee_id DESC) WHERE state = 'following';

-- Incoming edges: the mirror on the followee's shard, written only by metadata's follow consumer.
CREATE TABLE followers (
  followee_id bigint NOT NULL,
  follower_id bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('following', 'requested', 'none')),
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (followee_id, follower_id)
);
CREATE INDEX followers_active ON followers (followee_id, follower_id DESC) WHERE state = 'following';
CREATE INDEX followers_requested ON followers (followee_id, follower_id DESC) WHERE state = 'requested';

-- Posts on the author's shard; id = the media id.
CREATE TABLE posts (
  id bigint PRIMARY KEY,
  author_id bigint NOT NULL,
  caption text NOT NULL DEFAULT '',
  hashtags text[] NOT NULL DEFAULT '{}',
  mentions jsonb NOT NULL DEFAULT '[]',
  alt_text text,
  width integer NOT NULL,
  height integer NOT NULL,
  blurhash text NOT NULL,
  renditions jsonb NOT NULL,
  like_count integer NOT NULL DEFAULT 0,
  comment_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE INDEX posts_grid ON posts (author_id, id DESC) WHERE deleted_at IS NULL;

-- Likes and comments on the post's shard.
CREATE TABLE likes (
  post_id bigint NOT NULL,
  user_id bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (post_id, user_id)
);

CREATE TABLE comments (
  id bigint PRIMARY KEY DEFAULT next_id(),
  post_id bigint NOT NULL,
  author_id bigint NOT NULL,
  text text NOT NULL,
  mentions jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_post ON comments (post_id, id);

-- The hashtag index on shardForKey(tag), filled by metadata's tag consumer.
CREATE TABLE tag_posts (
  tag text NOT NULL,
  post_id bigint NOT NULL,
  author_id bigint NOT NULL,
  PRIMARY KEY (tag, post_id)
);
