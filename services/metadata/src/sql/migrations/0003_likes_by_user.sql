-- A viewer's likes on this shard, for the complete liked set metadata caches per viewer (store/posts.ts
-- likesOf): without it, "which posts has this viewer liked" is a scan of the shard's likes.
CREATE INDEX likes_by_user ON likes (user_id, post_id);
