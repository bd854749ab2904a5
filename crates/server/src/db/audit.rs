//! The audit log: append-only rows written in the same transaction as each change.

use jiff::Timestamp;
use serde_json::Value;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// Who did something, from where.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    /// "alice@example.com", "alice@example.com (token ci)", "system", "cli".
    pub label: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The portal itself (workers, start-up).
    pub fn system() -> Self {
        Self { user_id: None, label: "system".into(), client_addr: None, request_id: None }
    }

    /// An operator at the command line.
    pub fn cli() -> Self {
        Self { user_id: None, label: "cli".into(), client_addr: None, request_id: None }
    }
}

/// One audit entry to write.
pub struct Entry<'a> {
    pub action: &'a str,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// `text` without control characters (each becomes a space) nor Unicode format characters
/// that reorder or hide text: what an anonymous caller typed (an e-mail address at sign-in)
/// cannot forge line breaks or terminal escapes in the log or in an export of it.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let format_char = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
            if c.is_control() || format_char { ' ' } else { c }
        })
        .collect()
}

/// [`printable`] applied to every string inside a JSON value.
fn printable_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(printable(s)),
        Value::Array(items) => Value::Array(items.iter().map(printable_json).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (printable(k), printable_json(v))).collect())
        }
        other => other.clone(),
    }
}

/// Appends an entry. Call it with the transaction that makes the change. Every text is stored
/// [`printable`].
pub async fn record(db: impl PgExecutor<'_>, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let text = |s: &Option<String>| s.as_deref().map(printable);
    sqlx::query(
        "insert into audit_log (actor_user_id, actor_label, action, target, client_addr, request_id, before, after)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.user_id)
    .bind(printable(&actor.label))
    .bind(entry.action)
    .bind(printable(&entry.target))
    .bind(text(&actor.client_addr))
    .bind(text(&actor.request_id))
    .bind(entry.before.as_ref().map(printable_json))
    .bind(entry.after.as_ref().map(printable_json))
    .execute(db)
    .await?;
    Ok(())
}

/// A stored entry.
#[derive(Clone, Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: Timestamp,
    pub actor_user_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: OffsetDateTime,
    actor_user_id: Option<Uuid>,
    actor_label: String,
    action: String,
    target: String,
    client_addr: Option<String>,
    request_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

impl From<Row> for AuditRow {
    fn from(r: Row) -> Self {
        AuditRow {
            id: r.id,
            at: to_jiff(r.at),
            actor_user_id: r.actor_user_id,
            actor_label: r.actor_label,
            action: r.action,
            target: r.target,
            client_addr: r.client_addr,
            request_id: r.request_id,
            before: r.before,
            after: r.after,
        }
    }
}

const COLUMNS: &str =
    "id, at, actor_user_id, actor_label, action, target, client_addr, request_id, before, after";

/// Filters of the audit page; every one optional.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// Part of the actor label (case-insensitive).
    pub actor: Option<String>,
    /// Action prefix, e.g. "user." or "user.create".
    pub action: Option<String>,
    /// Part of the target (case-insensitive).
    pub target: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<Timestamp>,
    /// Before this instant (exclusive).
    pub until: Option<Timestamp>,
    /// Keyset cursor: only entries older than this id.
    pub before_id: Option<i64>,
}

/// Entries matching `filter`, newest first, at most `limit`.
pub(crate) async fn search(
    db: impl PgExecutor<'_>,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    // Filter text is matched literally: `%` and `_` typed by the admin are not wildcards.
    let sql = format!(
        "select {COLUMNS}
           from audit_log
          where ($1::text is null or actor_label ilike '%' || replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            and ($2::text is null or action like replace(replace(replace($2, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            and ($3::text is null or target ilike '%' || replace(replace(replace($3, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            and ($4::timestamptz is null or at >= $4)
            and ($5::timestamptz is null or at < $5)
            and ($6::bigint is null or id < $6)
          order by id desc
          limit $7"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.target)
        .bind(filter.from.map(from_jiff))
        .bind(filter.until.map(from_jiff))
        .bind(filter.before_id)
        .bind(limit)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(AuditRow::from).collect())
}

/// Every entry with exactly `action`, oldest first (what tests check after a change).
#[cfg(test)]
pub(crate) async fn with_action(db: impl PgExecutor<'_>, action: &str) -> Result<Vec<AuditRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from audit_log where action = $1 order by id");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(action).fetch_all(db).await?;
    Ok(rows.into_iter().map(AuditRow::from).collect())
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn filter_text_is_matched_literally_not_as_wildcards(pool: PgPool) {
        for target in ["quota:50%_used", "quota:50 percent used"] {
            let entry = Entry { action: "test.write", target: target.into(), before: None, after: None };
            record(&pool, &Actor::system(), entry).await.expect("record");
        }
        let filter = Filter { target: Some("50%_".into()), ..Filter::default() };
        let rows = search(&pool, &filter, 10).await.expect("search");
        assert_eq!(rows.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["quota:50%_used"]);
        let filter = Filter { action: Some("test_".into()), ..Filter::default() };
        assert!(search(&pool, &filter, 10).await.expect("search").is_empty(), "_ is not a wildcard");
    }
}
