//! People's own contact methods (`contact_methods`): how a page reaches one person besides the
//! shared channels.

use sqlx::PgExecutor;
use twisterlab_domain::contact::ContactKind;
use uuid::Uuid;

use crate::config::Secret;

/// One contact method.
#[derive(Clone, Debug)]
pub(crate) struct ContactMethod {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    /// The owner's display name ("Maya").
    pub(crate) owner: String,
    pub(crate) kind: ContactKind,
    pub(crate) label: String,
    /// Member ID, URL, routing key or address.
    pub(crate) target: String,
    /// A webhook's signing key.
    pub(crate) secret: Option<Secret>,
    pub(crate) enabled: bool,
}

impl ContactMethod {
    /// "Maya's PagerDuty".
    pub(crate) fn name(&self) -> String {
        format!("{}'s {}", self.owner, self.label)
    }
}

/// The unique constraints a person can hit: the same target twice, the same label twice.
const TARGET_KEY: &str = "contact_methods_target_key";
const LABEL_KEY: &str = "contact_methods_label_key";

/// Which field a unique constraint refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    Target,
    Label,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    owner: String,
    kind: String,
    label: String,
    target: String,
    secret: Option<String>,
    enabled: bool,
}

impl TryFrom<Row> for ContactMethod {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let kind = ContactKind::parse(&r.kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown contact method kind {:?}", r.kind).into()))?;
        Ok(ContactMethod {
            id: r.id,
            user_id: r.user_id,
            owner: r.owner,
            kind,
            label: r.label,
            target: r.target,
            secret: r.secret.map(Secret::new),
            enabled: r.enabled,
        })
    }
}

const SELECT: &str =
    "select m.id, m.user_id, u.display_name as owner, m.kind, m.label, m.target, m.secret, m.enabled
                        from contact_methods m join users u on u.id = m.user_id";

/// A person's contact methods, by kind then label.
pub(crate) async fn of_user(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<ContactMethod>, sqlx::Error> {
    let sql = format!("{SELECT} where m.user_id = $1 order by m.kind, m.label");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(db).await?;
    rows.into_iter().map(ContactMethod::try_from).collect()
}

/// The enabled contact methods of several people (the on-call page), by person, kind, label.
pub(crate) async fn enabled_of_users(
    db: impl PgExecutor<'_>,
    user_ids: &[Uuid],
) -> Result<Vec<ContactMethod>, sqlx::Error> {
    let sql = format!("{SELECT} where m.user_id = any($1) and m.enabled order by m.user_id, m.kind, m.label");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_ids).fetch_all(db).await?;
    rows.into_iter().map(ContactMethod::try_from).collect()
}

/// One contact method.
pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ContactMethod>, sqlx::Error> {
    let sql = format!("{SELECT} where m.id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(ContactMethod::try_from).transpose()
}

/// Locks a contact method for a change.
pub(crate) async fn find_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<ContactMethod>, sqlx::Error> {
    let sql = format!("{SELECT} where m.id = $1 for update of m");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(ContactMethod::try_from).transpose()
}

/// A contact method's stored fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContactDraft<'a> {
    pub(crate) kind: ContactKind,
    pub(crate) label: &'a str,
    pub(crate) target: &'a str,
    pub(crate) secret: Option<&'a str>,
    pub(crate) enabled: bool,
}

/// A taken target or label as [`Taken`]; any other error as it is. The failed statement aborts
/// the transaction it ran in.
fn taken<T>(result: Result<T, sqlx::Error>) -> Result<Result<T, Taken>, sqlx::Error> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(e) => match super::constraint_violated(&e) {
            Some(TARGET_KEY) => Ok(Err(Taken::Target)),
            Some(LABEL_KEY) => Ok(Err(Taken::Label)),
            _ => Err(e),
        },
    }
}

/// Adds a contact method to `user_id`; returns its id.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    d: &ContactDraft<'_>,
) -> Result<Result<Uuid, Taken>, sqlx::Error> {
    let id = Uuid::now_v7();
    let result = sqlx::query(
        "insert into contact_methods (id, user_id, kind, label, target, secret, enabled)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(user_id)
    .bind(d.kind.as_str())
    .bind(d.label)
    .bind(d.target)
    .bind(d.secret)
    .bind(d.enabled)
    .execute(db)
    .await;
    taken(result.map(|_| id))
}

/// Changes a contact method (its kind and owner never change).
pub(crate) async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    d: &ContactDraft<'_>,
) -> Result<Result<(), Taken>, sqlx::Error> {
    let result = sqlx::query(
        "update contact_methods set label = $2, target = $3, secret = $4, enabled = $5, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(d.label)
    .bind(d.target)
    .bind(d.secret)
    .bind(d.enabled)
    .execute(db)
    .await;
    taken(result.map(|_| ()))
}

/// Deletes a contact method with its outbox rows; returns whether it existed.
pub(crate) async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from contact_methods where id = $1").bind(id).execute(db).await?.rows_affected()
        > 0)
}

/// Records whether pages send Slack direct messages (the process has a bot token).
pub(crate) async fn set_slack_direct_messages(db: impl PgExecutor<'_>, on: bool) -> Result<(), sqlx::Error> {
    sqlx::query("update paging_settings set slack_direct_messages = $1, updated_at = now() where singleton")
        .bind(on)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether pages send Slack direct messages, as the last start recorded it.
pub(crate) async fn slack_direct_messages(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar("select slack_direct_messages from paging_settings where singleton")
        .fetch_optional(db)
        .await?
        .unwrap_or(false))
}
