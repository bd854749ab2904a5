//! Sign-in sessions: the `sessions` table.

use jiff::Timestamp;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// A session as its owner sees it (never the cookie's token, only its CSRF token).
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end, whatever the use.
    pub expires_at: Timestamp,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    csrf_token: String,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    client_addr: Option<String>,
    user_agent: Option<String>,
}

impl From<Row> for Session {
    fn from(r: Row) -> Self {
        Session {
            id: r.id,
            user_id: r.user_id,
            csrf_token: r.csrf_token,
            created_at: to_jiff(r.created_at),
            last_seen_at: to_jiff(r.last_seen_at),
            expires_at: to_jiff(r.expires_at),
            client_addr: r.client_addr,
            user_agent: r.user_agent,
        }
    }
}

const COLUMNS: &str =
    "id, user_id, csrf_token, created_at, last_seen_at, expires_at, client_addr, user_agent";

/// A new session's fields.
pub(crate) struct NewSession<'a> {
    pub token_hash: &'a [u8],
    pub user_id: Uuid,
    pub csrf_token: &'a str,
    pub expires_at: Timestamp,
    pub client_addr: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub(crate) async fn insert(db: impl PgExecutor<'_>, new: &NewSession<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into sessions (id, token_hash, user_id, csrf_token, expires_at, client_addr, user_agent) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(new.token_hash)
    .bind(new.user_id)
    .bind(new.csrf_token)
    .bind(from_jiff(new.expires_at))
    .bind(new.client_addr)
    .bind(new.user_agent)
    .execute(db)
    .await?;
    Ok(id)
}

/// The live session for a token hash: not past its absolute expiry nor idle for `idle_seconds`.
/// Touches `last_seen_at` when it is more than a minute old, so a busy page does not write on
/// every request.
pub(crate) async fn find_live(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    idle_seconds: i64,
) -> Result<Option<Session>, sqlx::Error> {
    let sql = format!(
        "with live as (
             select id from sessions
              where token_hash = $1 and expires_at > now() and last_seen_at > now() - make_interval(secs => $2)
         ), touched as (
             update sessions set last_seen_at = now()
              where id in (select id from live) and last_seen_at < now() - interval '1 minute'
         )
         select {COLUMNS} from sessions where id in (select id from live)"
    );
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(idle_seconds as f64)
        .fetch_optional(db)
        .await?;
    Ok(row.map(Session::from))
}

/// The sessions of a user that still sign someone in (not past the absolute expiry nor idle for
/// `idle_seconds`), most recently seen first. Reads only: idle rows are removed by the
/// housekeeping worker.
pub(crate) async fn list_live_for_user(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    idle_seconds: i64,
) -> Result<Vec<Session>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from sessions
          where user_id = $1 and expires_at > now() and last_seen_at > now() - make_interval(secs => $2)
          order by last_seen_at desc"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(idle_seconds as f64)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(Session::from).collect())
}

pub(crate) async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from sessions where id = $1").bind(id).execute(db).await?.rows_affected() > 0)
}

/// Ends one of `user_id`'s sessions; `false` when it is not theirs or already gone.
pub(crate) async fn delete_own(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from sessions where id = $1 and user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every session of a user; returns how many.
pub(crate) async fn delete_all_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from sessions where user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?
        .rows_affected())
}

/// Ends every session of a user but `keep` (after a password change).
pub(crate) async fn delete_others(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    keep: Uuid,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from sessions where user_id = $1 and id <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Removes expired and idle sessions; run periodically.
pub(crate) async fn delete_expired(db: impl PgExecutor<'_>, idle_seconds: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "delete from sessions where expires_at <= now() or last_seen_at <= now() - make_interval(secs => $1)",
    )
    .bind(idle_seconds as f64)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
