-- wxtoken's database schema, migration 4: events apply to a customer in order.
-- Applied on open by `wxtoken refresh` after schema-3.sql; written in SQL that
-- both SQLite and PostgreSQL accept. Times are Unix seconds (BIGINT).

-- The CreateTime (Open Platform) or TimeStamp (WeCom) of the last pushed event
-- applied to the customer: an older one (late, or replayed) is acknowledged
-- and changes nothing.
ALTER TABLE wxtoken_customers ADD COLUMN event_at BIGINT;
