//! The audit log: append-only rows written in the same transaction as each change.

use serde_json::Value;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

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

/// Appends an entry. Call it with the transaction that makes the change.
pub async fn record(db: impl PgExecutor<'_>, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_log (actor_user_id, actor_label, action, target, client_addr, request_id, before, after)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.user_id)
    .bind(&actor.label)
    .bind(entry.action)
    .bind(&entry.target)
    .bind(&actor.client_addr)
    .bind(&actor.request_id)
    .bind(&entry.before)
    .bind(&entry.after)
    .execute(db)
    .await?;
    Ok(())
}

/// A stored entry.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor_user_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Filters of the audit page; every one optional.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Part of the actor label (case-insensitive).
    pub actor: Option<String>,
    /// Action prefix, e.g. "user." or "user.create".
    pub action: Option<String>,
    /// Part of the target (case-insensitive).
    pub target: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Keyset cursor: only entries older than this id.
    pub before_id: Option<i64>,
}

/// Entries matching `filter`, newest first, at most `limit`.
pub async fn search(
    db: impl PgExecutor<'_>,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    // Filter text is matched literally: `%` and `_` typed by the admin are not wildcards.
    sqlx::query_as(
        "select id, at, actor_user_id, actor_label, action, target, client_addr, request_id, before, after
           from audit_log
          where ($1::text is null or actor_label ilike '%' || replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            and ($2::text is null or action like replace(replace(replace($2, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            and ($3::text is null or target ilike '%' || replace(replace(replace($3, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
            and ($4::timestamptz is null or at >= $4)
            and ($5::timestamptz is null or at < $5)
            and ($6::bigint is null or id < $6)
          order by id desc
          limit $7",
    )
    .bind(&filter.actor)
    .bind(&filter.action)
    .bind(&filter.target)
    .bind(filter.from)
    .bind(filter.until)
    .bind(filter.before_id)
    .bind(limit)
    .fetch_all(db)
    .await
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
