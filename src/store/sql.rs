//! The statements both databases run, each written once.
//!
//! A statement is written with SQLite's numbered placeholders (`?1`);
//! [`postgres_style`] turns them into PostgreSQL's (`$1`) at compile time. Where
//! the two dialects really differ, a piece `["sqlite" | "postgres"]` gives each
//! its own words, and a list parameter is `{list N}`. Statements only one
//! database runs (`show`'s lookup, migrations) stay in that database's file.

/// One statement in both placeholder styles.
pub(super) struct Sql {
    pub sqlite: &'static str,
    pub pg: &'static str,
}

/// `sql! { NAME = "text"; NAME = {"text" ["sqlite words" | "postgres words"]
/// (fragment!()) {list 1} "text"}; }`: a [`Sql`] for each statement, made of its
/// pieces, PostgreSQL's with `$` placeholders. `{list N}` is the list
/// parameter ?N as a table of one column, `value`.
macro_rules! sql {
    ($($(#[$doc:meta])* $name:ident = $body:tt;)*) => {
        $(
            $(#[$doc])*
            pub(super) const $name: Sql = sql!(@one $body);
        )*
        /// Every statement, for the tests.
        #[cfg(test)]
        pub(super) const ALL: &[&Sql] = &[$(&$name),*];
    };
    (@one {$($piece:tt)+}) => {{
        const PG: &str = concat!($(sql!(@pg $piece)),+);
        const PG_BYTES: [u8; PG.len()] = postgres_style(PG);
        Sql {
            sqlite: concat!($(sql!(@sqlite $piece)),+),
            pg: utf8(&PG_BYTES),
        }
    }};
    (@one $text:literal) => { sql!(@one {$text}) };
    (@sqlite {list $n:literal}) => { concat!("rarray(?", $n, ")") };
    (@pg {list $n:literal}) => { concat!("unnest(?", $n, ") AS t(value)") };
    (@sqlite [$sqlite:literal | $pg:literal]) => { $sqlite };
    (@pg [$sqlite:literal | $pg:literal]) => { $pg };
    (@$_db:ident ($($fragment:tt)*)) => { $($fragment)* };
    (@$_db:ident $text:literal) => { $text };
}

/// The columns of a stored [`super::Row`], in the order `columns::row` reads them.
macro_rules! select_rows {
    () => {
        "SELECT app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token
           FROM wxtoken_tokens"
    };
}
pub(super) use select_rows;

/// The columns of an [`super::Attempt`], in the order `columns::attempt` reads them.
macro_rules! select_attempts {
    () => {
        "SELECT app, kind, started_ms, duration_ms, outcome, forced, errcode, message
           FROM wxtoken_attempts"
    };
}

/// The columns of a stored [`super::Customer`], in the order `columns::customer` reads them.
macro_rules! select_customers {
    () => {
        "SELECT platform, appid, credential, pending_code, pending_until, state, info, authorized_at, updated_at
           FROM wxtoken_customers"
    };
}

/// `sql` with each `?` placeholder written `$`, PostgreSQL's style (the
/// statements here have no other `?`).
const fn postgres_style<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if bytes[i] == b'?' { b'$' } else { bytes[i] };
        i += 1;
    }
    out
}

const fn utf8(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("a statement is not UTF-8"),
    }
}

sql! {
    /// Marks a stale value invalidated, if it is still the stored one.
    INVALIDATE_STALE = "UPDATE wxtoken_tokens SET invalidated_at = ?4
         WHERE app = ?1 AND kind = ?2 AND value = ?3 AND invalidated_at IS NULL";

    /// 1 when `owner` still holds the app's lease, for [`UPSERT_VALUE`]'s ?9.
    LEASE_HELD = "SELECT COUNT(*) FROM wxtoken_leases WHERE app = ?1 AND owner = ?2";

    /// Stores a fetched value. ?9 is 1 when the writer still holds the app's lease:
    /// then nobody fetched after it, and it writes whatever the clocks say. A writer
    /// whose lease was taken over writes only over a value fetched earlier (its
    /// `fetched_at`, by its own clock, is not newer than the stored one's).
    UPSERT_VALUE = "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)
     ON CONFLICT (app, kind) DO UPDATE SET
        api = excluded.api, appid = excluded.appid, value = excluded.value,
        fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,
        invalidated_at = NULL, source_token = excluded.source_token
     WHERE CAST(?9 AS BIGINT) = 1 OR excluded.fetched_at >= wxtoken_tokens.fetched_at";

    INSERT_ATTEMPT = "INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

    /// Releases `owner`'s lease on one app.
    RELEASE_LEASE = "DELETE FROM wxtoken_leases WHERE app = ?1 AND owner = ?2";

    /// Releases `owner` (?2)'s leases on the apps of list ?1.
    RELEASE_LEASES = {"DELETE FROM wxtoken_leases WHERE owner = ?2 AND app IN (SELECT value FROM "
        {list 1} ")"};

    /// The time leases are taken at: the caller's (?1) on SQLite, the
    /// server's on PostgreSQL, so that hosts whose clocks disagree still agree
    /// on when a lease has ended.
    LEASE_NOW = {"SELECT " ["CAST(?1 AS BIGINT)"
        | "COALESCE(floor(extract(epoch FROM now()))::bigint, ?1)"]};

    /// The leases of the apps of list ?1, in name order; PostgreSQL locks
    /// their rows (in that order, as every taker takes them: a concurrent
    /// taker waits here, then sees the winner's lease).
    LEASES = {"SELECT app, owner, expires_at FROM wxtoken_leases
     WHERE app IN (SELECT value FROM " {list 1} ") ORDER BY app" ["" | " FOR UPDATE"]};

    /// Gives the leases of the apps of list ?1 to owner ?2 until ?3.
    REPLACE_LEASES = {"UPDATE wxtoken_leases SET owner = ?2, expires_at = ?3
     WHERE app IN (SELECT value FROM " {list 1} ")"};

    /// Leases of the apps of list ?1 for owner ?2 until ?3: the apps given
    /// one. An app that had no lease may have got one since it was read: then
    /// it is that process's.
    INSERT_LEASES = {"INSERT INTO wxtoken_leases (app, owner, expires_at)
     SELECT value, ?2, ?3 FROM " {list 1} " WHERE true
     ON CONFLICT (app) DO NOTHING RETURNING app"};

    /// Every stored row.
    ROWS = {(select_rows!())};

    /// The rows of the apps of list ?1.
    ROWS_OF = {(select_rows!()) " WHERE app IN (SELECT value FROM " {list 1} ")"};

    /// `invalidate`'s read of the stored value; PostgreSQL locks the row (SQLite's
    /// write transaction already locks the file).
    STORED_VALUE = {"SELECT value, invalidated_at FROM wxtoken_tokens WHERE app = ?1 AND kind = ?2"
        ["" | " FOR UPDATE"]};

    MARK_INVALIDATED = "UPDATE wxtoken_tokens SET invalidated_at = ?3 WHERE app = ?1 AND kind = ?2";

    /// The latest attempts (of app ?1, or all when NULL), newest first; among
    /// attempts of the same millisecond, the one stored last first.
    HISTORY = {(select_attempts!())
        " WHERE CAST(?1 AS TEXT) IS NULL OR app = ?1
         ORDER BY started_ms DESC, " ["rowid" | "ctid"] " DESC LIMIT ?2"};

    /// Per app and kind: calls and forced calls since ?1 (those that reached upstream:
    /// `ok` or `error`), the last forced call, and the failures since the last success.
    STATS_COUNTS = "
SELECT a.app, a.kind,
       SUM(CASE WHEN a.started_ms >= ?1 AND a.outcome IN ('ok', 'error') THEN 1 ELSE 0 END),
       SUM(CASE WHEN a.started_ms >= ?1 AND a.outcome IN ('ok', 'error') AND a.forced = 1 THEN 1 ELSE 0 END),
       MAX(CASE WHEN a.started_ms >= ?1 AND a.outcome IN ('ok', 'error') AND a.forced = 1 THEN a.started_ms END),
       SUM(CASE WHEN a.outcome <> 'ok' AND a.started_ms > COALESCE(
               (SELECT MAX(b.started_ms) FROM wxtoken_attempts b
                 WHERE b.app = a.app AND b.kind = a.kind AND b.outcome = 'ok'), -1)
           THEN 1 ELSE 0 END)
  FROM wxtoken_attempts a
 GROUP BY a.app, a.kind";

    /// The latest attempt of each app and kind.
    STATS_LAST = {(select_attempts!())
        " a WHERE a.started_ms = (SELECT MAX(b.started_ms) FROM wxtoken_attempts b
                          WHERE b.app = a.app AND b.kind = a.kind)"};

    /// Forgets attempts older than ?1.
    PRUNE = "DELETE FROM wxtoken_attempts WHERE started_ms < ?1";

    /// A platform's customers.
    CUSTOMERS = {(select_customers!()) " WHERE platform = ?1 ORDER BY appid"};

    CUSTOMER = {(select_customers!()) " WHERE platform = ?1 AND appid = ?2"};

    /// The platforms that have customers, for `status`.
    CUSTOMER_PLATFORMS = "SELECT DISTINCT platform FROM wxtoken_customers ORDER BY platform";

    UPSERT_CUSTOMER = "INSERT INTO wxtoken_customers (platform, appid, credential, pending_code, pending_until, state, info, authorized_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (platform, appid) DO UPDATE SET
        credential = excluded.credential, pending_code = excluded.pending_code,
        pending_until = excluded.pending_until, state = excluded.state, info = excluded.info,
        authorized_at = excluded.authorized_at, updated_at = excluded.updated_at,
        code_sent_at = CASE WHEN excluded.pending_code = wxtoken_customers.pending_code
                            THEN wxtoken_customers.code_sent_at ELSE NULL END";

    /// A customer's rotated credential (?3; NULL keeps the stored one) and state,
    /// as of ?5. Written only by the holder of the customer's lease (?8 is 1, as
    /// for [`UPSERT_VALUE`]) and only over what was stored before ?5: a run that
    /// outlived its lease, or whose customer `authorizers sync` or a push wrote
    /// since, leaves the newer credential alone.
    UPDATE_CUSTOMER = "UPDATE wxtoken_customers
        SET credential = COALESCE(CAST(?3 AS TEXT), credential), state = ?4, updated_at = ?5,
            info = COALESCE(CAST(?6 AS TEXT), info)
      WHERE platform = ?1 AND appid = ?2 AND CAST(?7 AS BIGINT) = 1 AND updated_at <= ?5";

    /// A pending customer (?1, ?2) exchanged: stored under the appid its
    /// answer named (?3), replacing one stored there, with its new credential
    /// ?4, state ?5, info ?6, at ?7. The pending row is deleted after. The
    /// credential is stored even when the pending row is gone meanwhile (the
    /// same code brought again and dropped as spent): it is never lost.
    REKEY_CUSTOMER = "INSERT INTO wxtoken_customers (platform, appid, credential, state, info, authorized_at, updated_at, event_at)
     VALUES (CAST(?1 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS TEXT), CAST(?5 AS TEXT), CAST(?6 AS TEXT),
       COALESCE((SELECT authorized_at FROM wxtoken_customers WHERE platform = ?1 AND appid = ?2), CAST(?7 AS BIGINT)),
       CAST(?7 AS BIGINT),
       (SELECT event_at FROM wxtoken_customers WHERE platform = ?1 AND appid = ?2))
     ON CONFLICT (platform, appid) DO UPDATE SET
        credential = excluded.credential, pending_code = NULL, pending_until = NULL,
        code_sent_at = NULL, state = excluded.state, info = excluded.info,
        authorized_at = excluded.authorized_at, updated_at = excluded.updated_at,
        event_at = excluded.event_at";

    /// A customer known only by an authorization code that ended (?3) unexchanged.
    DROP_EXPIRED_CODE = "DELETE FROM wxtoken_customers
      WHERE platform = ?1 AND appid = ?2 AND credential IS NULL AND pending_until < ?3";

    DELETE_CUSTOMER = "DELETE FROM wxtoken_customers WHERE platform = ?1 AND appid = ?2";

    /// Every value of app ?1 (a pending customer's, once it is stored under its appid).
    DELETE_APP = "DELETE FROM wxtoken_tokens WHERE app = ?1";

    /// A revoked credential is dead: nothing secret is kept.
    REVOKE_CUSTOMER = "UPDATE wxtoken_customers
        SET state = 'revoked', credential = NULL, pending_code = NULL, pending_until = NULL,
            code_sent_at = NULL, updated_at = ?3
      WHERE platform = ?1 AND appid = ?2";

    /// Marks every value of app ?1 invalidated at ?2 (those already invalidated keep their time).
    INVALIDATE_APP = "UPDATE wxtoken_tokens SET invalidated_at = ?2 WHERE app = ?1 AND invalidated_at IS NULL";

    /// Takes customer (?1, ?2)'s pending code ?3 for sending, at ?4, unless
    /// it was sent (or replaced) already.
    CLAIM_CODE = "UPDATE wxtoken_customers SET code_sent_at = ?4
      WHERE platform = ?1 AND appid = ?2 AND pending_code = ?3 AND code_sent_at IS NULL";

    /// Forgets the sent codes of platform ?1 that can no longer be valid (?2).
    PRUNE_SPENT = "DELETE FROM wxtoken_spent_codes WHERE platform = ?1 AND spent_until < ?2";

    /// Remembers code ?2 of platform ?1 as sent, until ?3; nothing (0 rows)
    /// when it was sent already.
    REMEMBER_SPENT = "INSERT INTO wxtoken_spent_codes (platform, code_key, spent_until)
     VALUES (?1, ?2, ?3) ON CONFLICT (platform, code_key) DO NOTHING";

    /// A claimed code that never left is forgotten as sent.
    FORGET_SPENT = "DELETE FROM wxtoken_spent_codes WHERE platform = ?1 AND code_key = ?2";

    /// Whether code ?2 of platform ?1 is remembered as sent.
    IS_SPENT = "SELECT COUNT(*) FROM wxtoken_spent_codes WHERE platform = ?1 AND code_key = ?2";

    /// The claimed code never left: it may be sent again.
    RELEASE_CODE = "UPDATE wxtoken_customers SET code_sent_at = NULL WHERE platform = ?1 AND appid = ?2";

    /// The code is forgotten; a customer without a credential must authorize again.
    DROP_CODE = "UPDATE wxtoken_customers
        SET pending_code = NULL, pending_until = NULL, code_sent_at = NULL, updated_at = ?3,
            state = CASE WHEN credential IS NULL THEN 'reauthorize' ELSE state END
      WHERE platform = ?1 AND appid = ?2";

    /// A customer (known by a pending key) that has nothing left.
    DELETE_UNCREDENTIALED = "DELETE FROM wxtoken_customers
      WHERE platform = ?1 AND appid = ?2 AND credential IS NULL";

    HAS_CREDENTIAL = "SELECT COUNT(*) FROM wxtoken_customers
      WHERE platform = ?1 AND appid = ?2 AND credential IS NOT NULL";

    /// The exchange's answer: credential ?3, info ?4 (NULL keeps the stored), at ?5.
    EXCHANGED = "UPDATE wxtoken_customers
        SET credential = ?3, info = COALESCE(CAST(?4 AS TEXT), info), state = 'active',
            pending_code = NULL, pending_until = NULL, code_sent_at = NULL, updated_at = ?5
      WHERE platform = ?1 AND appid = ?2";

    /// What upstream says about an active customer now (?3, at ?4).
    SET_INFO = "UPDATE wxtoken_customers SET info = ?3, updated_at = ?4
      WHERE platform = ?1 AND appid = ?2 AND state = 'active'";

    /// Records event time ?3 unless a later one was applied.
    EVENT_AT = "UPDATE wxtoken_customers SET event_at = ?3
      WHERE platform = ?1 AND appid = ?2 AND (event_at IS NULL OR event_at <= ?3)";

    CUSTOMER_EXISTS = "SELECT COUNT(*) FROM wxtoken_customers WHERE platform = ?1 AND appid = ?2";

    /// A platform's customers whose pending code was sent.
    SENT_CODES = "SELECT appid, code_sent_at FROM wxtoken_customers
      WHERE platform = ?1 AND code_sent_at IS NOT NULL ORDER BY appid";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_database_gets_its_own_placeholders() {
        assert_eq!(
            RELEASE_LEASE.sqlite,
            "DELETE FROM wxtoken_leases WHERE app = ?1 AND owner = ?2"
        );
        assert_eq!(
            RELEASE_LEASE.pg,
            "DELETE FROM wxtoken_leases WHERE app = $1 AND owner = $2"
        );
        assert!(STORED_VALUE.pg.ends_with("kind = $2 FOR UPDATE"));
        assert!(STORED_VALUE.sqlite.ends_with("kind = ?2"));
        for sql in ALL {
            assert!(
                !sql.sqlite.contains('$') && !sql.pg.contains('?'),
                "{}",
                sql.sqlite
            );
        }
    }

    #[test]
    fn sqlite_prepares_every_statement_against_the_schema() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        rusqlite::vtab::array::load_module(&conn).unwrap();
        for migration in super::super::MIGRATIONS {
            conn.execute_batch(migration).unwrap();
        }
        for sql in ALL {
            conn.prepare(sql.sqlite).unwrap();
        }
    }
}
