//! wxtoken's tables are wxtoken's own.
//!
//! wxtoken creates tables and indexes named `wxtoken_*`, and nothing else: no
//! view, no trigger, no rule. Someone who can write the database file, or
//! create in a PostgreSQL schema, could put a view in a table's place (one
//! that never ends, or that answers a token of theirs), or a trigger that runs
//! whatever they wrote as wxtoken on every write; `CREATE TABLE IF NOT EXISTS`
//! would then keep their tables. So before anything is read or written, the
//! names wxtoken uses must be plain tables, with no trigger or rule, and on
//! PostgreSQL owned by the connecting role, the database's owner or a
//! superuser: anything else is refused (exit 2), naming the object and its owner.

use anyhow::Result;

use crate::error::usage;

/// The tables wxtoken's statements name.
pub const TABLES: [&str; 5] = [
    "wxtoken_meta",
    "wxtoken_tokens",
    "wxtoken_attempts",
    "wxtoken_leases",
    "wxtoken_customers",
];

/// The refusal, naming `what` (the object), the database and the fix.
fn refused(db: &str, what: &str) -> anyhow::Error {
    usage(format!(
        "database {db}: {what}: wxtoken creates no views, triggers or rules, and uses only tables of its own: drop it (or use a database of wxtoken's own)"
    ))
}

/// SQLite: no view or trigger named `wxtoken_*` or on a `wxtoken_*` table.
/// Reads the schema SQLite has already loaded; nothing of the tables.
pub fn sqlite(conn: &rusqlite::Connection, db: &str) -> Result<()> {
    // The names are matched here rather than with LIKE: the shortest
    // statement is the cheapest to prepare, and `show` prepares it every time.
    let ours = |name: &str| {
        name.as_bytes()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"wxtoken"))
    };
    let mut st = conn.prepare(
        "SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('view', 'trigger')",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (kind, name, table): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if !ours(&name) && !ours(&table) {
            continue;
        }
        // A view or a trigger: nothing else is selected.
        let what = if kind == "trigger" {
            let table = crate::text::quoted(&table);
            format!(
                "table {table} has triggers ({})",
                crate::text::clip(&name, 200)
            )
        } else {
            format!("{} is a view", crate::text::quoted(&name))
        };
        return Err(refused(db, &what));
    }
    Ok(())
}

/// PostgreSQL: each table name, resolved as wxtoken's statements resolve it
/// (the search path), is absent or a plain table owned by the connecting role,
/// the database's owner or a superuser, with no trigger or rule of anyone's.
/// Every name here is schema-qualified, so that nothing a schema's other
/// users created can stand in for the catalog's own.
const PG_CHECK: &str = "SELECT n.name, c.relkind::text, pg_catalog.pg_get_userbyid(c.relowner),
       c.relowner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r
                                          WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
         OR c.relowner OPERATOR(pg_catalog.=) (SELECT d.datdba FROM pg_catalog.pg_database d
                                               WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
         OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) c.relowner),
       (SELECT pg_catalog.string_agg(t.tgname::text, ', ') FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid AND NOT t.tgisinternal),
       (SELECT pg_catalog.string_agg(w.rulename::text, ', ') FROM pg_catalog.pg_rewrite w
         WHERE w.ev_class OPERATOR(pg_catalog.=) c.oid AND w.rulename OPERATOR(pg_catalog.<>) '_RETURN')
  FROM pg_catalog.unnest($1::pg_catalog.text[]) AS n(name)
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(n.name)";

/// What [`PG_CHECK`] finds: one row for each name that resolves to something.
pub fn pg_find(
    c: &mut impl postgres::GenericClient,
) -> Result<Vec<postgres::Row>, postgres::Error> {
    let names: Vec<&str> = TABLES.to_vec();
    c.query_typed(PG_CHECK, &[(&names, postgres::types::Type::TEXT_ARRAY)])
}

/// The verdict on what [`pg_find`] found; `db` names the database.
pub fn pg(found: &[postgres::Row], db: &str) -> Result<()> {
    for r in found {
        let name: String = r.get(0);
        let kind: String = r.get(1);
        let owner: String = r.get(2);
        let trusted: Option<bool> = r.get(3);
        let triggers: Option<String> = r.get(4);
        let rules: Option<String> = r.get(5);
        let shown = crate::text::quoted(&name);
        let owner_shown = crate::text::quoted(&owner);
        let what = if kind != "r" && kind != "p" {
            let what = match kind.as_str() {
                "v" => "a view",
                "m" => "a materialized view",
                "f" => "a foreign table",
                _ => "not a table",
            };
            format!("{shown} is {what} (owner {owner_shown})")
        } else if trusted != Some(true) {
            format!(
                "table {shown} belongs to {owner_shown}, neither the connecting role nor the database's owner (another role created it first)"
            )
        } else if let Some(t) = triggers {
            format!(
                "table {shown} has triggers ({})",
                crate::text::clip(&t, 200)
            )
        } else if let Some(w) = rules {
            format!("table {shown} has rules ({})", crate::text::clip(&w, 200))
        } else {
            continue;
        };
        return Err(refused(db, &what));
    }
    Ok(())
}
