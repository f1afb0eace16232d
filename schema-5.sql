-- wxtoken's database schema, migration 5: a one-use code is sent at most once,
-- also after its exchange finished. Applied on open by `wxtoken refresh` after
-- schema-4.sql; written in SQL that both SQLite and PostgreSQL accept. Times
-- are Unix seconds (BIGINT).

-- The codes sent upstream, each remembered until it can no longer be valid
-- (spent_until): the same code pushed again later is dropped unsent.
-- code_key is `pending-` and 16 hex digits of the code's SHA-1, as a pending
-- customer's key: it reveals nothing usable.
CREATE TABLE IF NOT EXISTS wxtoken_spent_codes (
    platform    TEXT   NOT NULL,
    code_key    TEXT   NOT NULL,
    spent_until BIGINT NOT NULL,
    PRIMARY KEY (platform, code_key)
);
