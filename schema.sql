-- wxtoken's database schema, version 1. Applied on open by `wxtoken refresh`.
-- Written in SQL that both SQLite and PostgreSQL accept. Times are Unix seconds
-- (BIGINT) unless the column name says `_ms`. Migrations only append.

-- One row per app and kind: the current value, when it was fetched, when it expires.
-- kind: access_token | jsapi_ticket | wx_card_ticket | agent_config_ticket
CREATE TABLE IF NOT EXISTS wxtoken_tokens (
    app            TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    api            TEXT    NOT NULL,
    appid          TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    fetched_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    invalidated_at BIGINT,
    -- tickets only: the access token they were fetched with
    source_token   TEXT,
    PRIMARY KEY (app, kind)
);

CREATE INDEX IF NOT EXISTS wxtoken_tokens_appid ON wxtoken_tokens (appid);

-- Every upstream call, successful or not.
-- outcome: ok | error (upstream answered or failed mid-call) | unreached (no
-- connection: not counted as a call) | refused (wxtoken's quota guard: no call)
CREATE TABLE IF NOT EXISTS wxtoken_attempts (
    app         TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    started_ms  BIGINT  NOT NULL,
    duration_ms BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL,
    forced      BIGINT  NOT NULL,
    errcode     BIGINT,
    message     TEXT
);

CREATE INDEX IF NOT EXISTS wxtoken_attempts_app_time ON wxtoken_attempts (app, started_ms);
CREATE INDEX IF NOT EXISTS wxtoken_attempts_time ON wxtoken_attempts (started_ms);

-- Single flight: the process that holds an app's lease is the only one that calls
-- upstream for it. A lease past its expires_at is abandoned and may be taken over.
CREATE TABLE IF NOT EXISTS wxtoken_leases (
    app        TEXT    NOT NULL PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);
