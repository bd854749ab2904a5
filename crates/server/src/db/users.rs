//! Users: the `users` table.

use jiff::Timestamp;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::clock::to_jiff;

/// A portal account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: Timestamp,
    /// `None` until the first sign-in.
    pub last_sign_in_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    email: String,
    display_name: String,
    role: String,
    active: bool,
    must_change_password: bool,
    created_at: OffsetDateTime,
    last_sign_in_at: Option<OffsetDateTime>,
}

impl TryFrom<Row> for User {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let role = r.role.parse::<Role>().map_err(|e| sqlx::Error::Decode(e.into()))?;
        Ok(User {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role,
            active: r.active,
            must_change_password: r.must_change_password,
            created_at: to_jiff(r.created_at),
            last_sign_in_at: r.last_sign_in_at.map(to_jiff),
        })
    }
}

const COLUMNS: &str =
    "id, email, display_name, role, active, must_change_password, created_at, last_sign_in_at";

/// A new user's fields.
pub(crate) struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub must_change_password: bool,
}

/// Inserts a user. A duplicate e-mail (any case) is `Ok(None)`.
pub(crate) async fn insert(db: impl PgExecutor<'_>, new: &NewUser<'_>) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "insert into users (id, email, display_name, role, password_hash, must_change_password) values ($1, $2, $3, $4, $5, $6) \
         on conflict ((lower(email))) do nothing returning {COLUMNS}"
    );
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(new.email)
        .bind(new.display_name)
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(new.must_change_password)
        .fetch_optional(db)
        .await?;
    row.map(User::try_from).transpose()
}

pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from users where id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(User::try_from).transpose()
}

/// Locks the row for an update in the same transaction.
pub(crate) async fn find_for_update(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from users where id = $1 for update");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(User::try_from).transpose()
}

/// The user with this e-mail (any case) and their password hash.
pub(crate) async fn find_with_hash(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct WithHash {
        #[sqlx(flatten)]
        user: Row,
        password_hash: String,
    }
    let sql = format!("select {COLUMNS}, password_hash from users where lower(email) = lower($1)");
    let row: Option<WithHash> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(db).await?;
    row.map(|r| Ok((User::try_from(r.user)?, r.password_hash))).transpose()
}

pub(crate) async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from users where lower(email) = lower($1)");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(db).await?;
    row.map(User::try_from).transpose()
}

/// Every user, active first, then by e-mail.
pub(crate) async fn list(db: impl PgExecutor<'_>) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from users order by active desc, lower(email)");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await?;
    rows.into_iter().map(User::try_from).collect()
}

pub(crate) async fn count(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users").fetch_one(db).await
}

/// Active admins other than `except`, to keep at least one admin.
pub(crate) async fn count_other_active_admins(
    db: impl PgExecutor<'_>,
    except: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users where role = 'admin' and active and id <> $1")
        .bind(except)
        .fetch_one(db)
        .await
}

pub(crate) async fn record_sign_in(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update users set last_sign_in_at = now() where id = $1").bind(id).execute(db).await?;
    Ok(())
}

pub(crate) async fn set_password(
    db: impl PgExecutor<'_>,
    id: Uuid,
    hash: &str,
    must_change: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update users set password_hash = $2, must_change_password = $3, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(hash)
    .bind(must_change)
    .execute(db)
    .await?;
    Ok(())
}

/// Updates name, role and active flag.
pub(crate) async fn update_profile(
    db: impl PgExecutor<'_>,
    id: Uuid,
    display_name: &str,
    role: Role,
    active: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update users set display_name = $2, role = $3, active = $4, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(display_name)
    .bind(role.as_str())
    .bind(active)
    .execute(db)
    .await?;
    Ok(())
}

/// Serialises changes that could remove an active admin, until the transaction ends: two admins
/// demoting each other at once must not both see the other as "still an admin".
pub(crate) async fn lock_admin_changes(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('twisterlab.admin_changes'))").execute(db).await?;
    Ok(())
}

/// Serialises the creation of the first admin across replicas starting at once, until the
/// transaction ends.
pub(crate) async fn lock_bootstrap(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('twisterlab.bootstrap_admin'))").execute(db).await?;
    Ok(())
}
