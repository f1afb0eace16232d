-- wxtoken's database schema, migration 3: one-use codes are sent upstream at
-- most once. Applied on open by `wxtoken refresh` after schema-2.sql; written in
-- SQL that both SQLite and PostgreSQL accept. Times are Unix seconds (BIGINT).

-- When wxtoken sent the customer's pending_code upstream (NULL: not sent). A
-- code sent once is never sent again, whatever became of the answer: it is
-- single use, and a second exchange can only fail.
ALTER TABLE wxtoken_customers ADD COLUMN code_sent_at BIGINT;
