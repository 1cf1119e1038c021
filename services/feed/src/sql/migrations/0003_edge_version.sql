-- Follow edges are ordered by the version their owner (metadata, on the follower's shard) gave each change,
-- not by event time: two metadata replicas with skewed clocks could otherwise let an unfollow lose to the
-- follow it undid. 0 = written by an event without a version (hand-written): any versioned change wins.
ALTER TABLE followers ADD COLUMN edge_version bigint NOT NULL DEFAULT 0;
ALTER TABLE following ADD COLUMN edge_version bigint NOT NULL DEFAULT 0;
