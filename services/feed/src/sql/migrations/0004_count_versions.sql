-- Every change of a post's counts moves its version, and the cache keeps the version of the counts it holds:
-- a consumer writes the counts it committed (not a delta), so a redelivered event heals a cache update lost
-- to a crash or a Redis outage after the commit, and an older write (a reader's refill) never wins.
ALTER TABLE post_counts ADD COLUMN version bigint NOT NULL DEFAULT 0;
