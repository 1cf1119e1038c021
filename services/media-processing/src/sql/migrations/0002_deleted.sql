-- When the post made from this media was deleted (post.deleted; post id = media id): its renditions were
-- removed from S3, and neither a redelivered media.uploaded nor the operator's reprocess renders them again.
ALTER TABLE media ADD COLUMN deleted_at timestamptz;
