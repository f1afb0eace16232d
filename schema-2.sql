-- wxtoken's database schema, migration 2: a third-party platform's customers.
-- Applied on open by `wxtoken refresh` after schema.sql (version 1); written in
-- SQL that both SQLite and PostgreSQL accept. Times are Unix seconds (BIGINT).

-- One row per platform and customer (an Open Platform authorizer, a WeCom
-- company). The customer's tokens live in wxtoken_tokens under the app name
-- `PLATFORM/APPID`; this row holds what makes them.
CREATE TABLE IF NOT EXISTS wxtoken_customers (
    -- the [[platform]] name in the config
    platform      TEXT    NOT NULL,
    -- the authorizer's appid (Open Platform) or the company's corpid (WeCom)
    appid         TEXT    NOT NULL,
    -- the authorizer_refresh_token or permanent_code, sealed with the store key
    -- (`v1:...`); NULL while only a pending code is known, and once revoked
    credential    TEXT,
    -- an authorization code not exchanged yet, sealed like credential
    pending_code  TEXT,
    -- when pending_code expires
    pending_until BIGINT,
    -- active | revoked (the customer withdrew the authorization) | reauthorize
    -- (upstream refused the credential: the customer must authorize again)
    state         TEXT    NOT NULL,
    -- what upstream says about the customer (JSON), if fetched
    info          TEXT,
    -- when the customer authorized the platform, if known
    authorized_at BIGINT,
    -- when wxtoken last wrote this row
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (platform, appid)
);
