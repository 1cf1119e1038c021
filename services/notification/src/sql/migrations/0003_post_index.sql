-- post.deleted removes every notification about the post: find them by post on each shard.
CREATE INDEX notifications_post ON notifications (post_id) WHERE post_id IS NOT NULL;
