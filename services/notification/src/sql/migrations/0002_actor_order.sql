-- The latest actors of an item are read on every list and stream frame; a like group of a popular
-- post can have thousands of actors, so read them in acted_at order from an index instead of sorting.
CREATE INDEX notification_actors_latest ON notification_actors (notification_id, acted_at DESC, actor_id DESC);
