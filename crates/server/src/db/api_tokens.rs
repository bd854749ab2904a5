//! API tokens: the `api_tokens` table.

use jiff::Timestamp;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// A token as its owner sees it (never the secret).
#[derive(Clone, Debug)]
pub(crate) struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: Timestamp,
    /// `None`: never expires.
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    /// Not revoked and not expired at `now`.
    pub(crate) fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    name: String,
    role: String,
    prefix: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

impl TryFrom<Row> for ApiToken {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        Ok(ApiToken {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            role: r
                .role
                .parse()
                .map_err(|e: twisterlab_domain::role::ParseRoleError| sqlx::Error::Decode(e.into()))?,
            prefix: r.prefix,
            created_at: to_jiff(r.created_at),
            expires_at: r.expires_at.map(to_jiff),
            last_used_at: r.last_used_at.map(to_jiff),
            revoked_at: r.revoked_at.map(to_jiff),
        })
    }
}

const COLUMNS: &str = "id, user_id, name, role, prefix, created_at, expires_at, last_used_at, revoked_at";

/// A new token's fields.
pub(crate) struct NewToken<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub role: Role,
    pub token_hash: &'a [u8],
    pub prefix: &'a str,
    /// `None`: never expires.
    pub expires_at: Option<Timestamp>,
}

/// Inserts a token; a live token of the same user with the same name is `Ok(None)`.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewToken<'_>,
) -> Result<Option<ApiToken>, sqlx::Error> {
    let sql = format!(
        "insert into api_tokens (id, user_id, name, role, token_hash, prefix, expires_at) values ($1, $2, $3, $4, $5, $6, $7) \
         on conflict (user_id, lower(name)) where revoked_at is null do nothing returning {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(new.user_id)
        .bind(new.name)
        .bind(new.role.as_str())
        .bind(new.token_hash)
        .bind(new.prefix)
        .bind(new.expires_at.map(from_jiff))
        .fetch_optional(db)
        .await?;
    row.map(ApiToken::try_from).transpose()
}

/// The live token with this hash; marks it used (at most once a minute, to spare writes).
pub(crate) async fn find_live(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<ApiToken>, sqlx::Error> {
    let sql = format!(
        "with live as (
             select id from api_tokens where token_hash = $1 and revoked_at is null and (expires_at is null or expires_at > now())
         ), touched as (
             update api_tokens set last_used_at = now()
              where id in (select id from live) and (last_used_at is null or last_used_at < now() - interval '1 minute')
         )
         select {COLUMNS} from api_tokens where id in (select id from live)"
    );
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token_hash).fetch_optional(db).await?;
    row.map(ApiToken::try_from).transpose()
}

/// A user's tokens, live ones first, newest first.
pub(crate) async fn list_for_user(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<ApiToken>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from api_tokens where user_id = $1 order by (revoked_at is null) desc, created_at desc"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(db).await?;
    rows.into_iter().map(ApiToken::try_from).collect()
}

/// Revokes one of `user_id`'s live tokens; returns it, or `None` when there is no such live token.
pub(crate) async fn revoke(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiToken>, sqlx::Error> {
    let sql = format!(
        "update api_tokens set revoked_at = now() where id = $1 and user_id = $2 and revoked_at is null returning {COLUMNS}"
    );
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(user_id).fetch_optional(db).await?;
    row.map(ApiToken::try_from).transpose()
}

/// Revokes every live token of `user_id` (a password change or reset); returns how many.
pub(crate) async fn revoke_all_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("update api_tokens set revoked_at = now() where user_id = $1 and revoked_at is null")
            .bind(user_id)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}
