//! Runbook versions: every revision of every runbook, as loaded from its file or saved by an
//! admin. Append-only (a trigger refuses UPDATE and DELETE).

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::runbook::{ContentDigest, Revision, Runbook};
use uuid::Uuid;

use crate::clock::to_jiff;

/// Where a version came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `runbooks/<slug>.toml`, loaded at start.
    File,
    /// An admin's edit in the portal.
    Edit,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Edit => "edit",
        }
    }
}

/// One stored version.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    pub runbook: Runbook,
    pub digest: ContentDigest,
}

/// A version without its content, for the version list.
#[derive(Clone, Debug)]
pub(crate) struct VersionInfo {
    pub revision: Revision,
    pub source: String,
    pub created_by_label: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    content: Value,
    digest: String,
}

impl TryFrom<VersionRow> for Version {
    type Error = sqlx::Error;
    fn try_from(r: VersionRow) -> Result<Self, Self::Error> {
        let runbook: Runbook =
            serde_json::from_value(r.content).map_err(|e| sqlx::Error::Decode(e.into()))?;
        let digest = ContentDigest::parse(&r.digest).map_err(|e| sqlx::Error::Decode(e.into()))?;
        Ok(Version { runbook, digest })
    }
}

const COLUMNS: &str = "content, digest";

/// The latest version of every runbook, by title.
pub(crate) async fn latest_all(db: impl PgExecutor<'_>) -> Result<Vec<Version>, sqlx::Error> {
    let rows: Vec<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select distinct on (slug) {COLUMNS}, title from runbook_versions order by slug, revision desc"
    )))
    .fetch_all(db)
    .await?;
    let mut versions: Vec<Version> = rows.into_iter().map(Version::try_from).collect::<Result<_, _>>()?;
    versions.sort_by(|a, b| a.runbook.title.as_str().cmp(b.runbook.title.as_str()));
    Ok(versions)
}

/// The latest version of `slug`.
pub(crate) async fn latest(db: impl PgExecutor<'_>, slug: &str) -> Result<Option<Version>, sqlx::Error> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from runbook_versions where slug = $1 order by revision desc limit 1"
    )))
    .bind(slug)
    .fetch_optional(db)
    .await?;
    row.map(Version::try_from).transpose()
}

/// Version `revision` of `slug`.
pub(crate) async fn find(
    db: impl PgExecutor<'_>,
    slug: &str,
    revision: Revision,
) -> Result<Option<Version>, sqlx::Error> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from runbook_versions where slug = $1 and revision = $2"
    )))
    .bind(slug)
    .bind(revision.get() as i32)
    .fetch_optional(db)
    .await?;
    row.map(Version::try_from).transpose()
}

/// Every version of `slug`, newest first.
pub(crate) async fn versions(db: impl PgExecutor<'_>, slug: &str) -> Result<Vec<VersionInfo>, sqlx::Error> {
    let rows: Vec<(i32, String, String, OffsetDateTime)> = sqlx::query_as(
        "select revision, source, created_by_label, created_at from runbook_versions
         where slug = $1 order by revision desc",
    )
    .bind(slug)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(revision, source, created_by_label, created_at)| {
            Ok(VersionInfo {
                revision: Revision::new(i64::from(revision)).map_err(|e| sqlx::Error::Decode(e.into()))?,
                source,
                created_by_label,
                created_at: to_jiff(created_at),
            })
        })
        .collect()
}

/// Serialises version changes of `slug` in the caller's transaction (loader and edits).
pub(crate) async fn lock_slug(tx: &mut PgConnection, slug: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('runbook:' || $1))")
        .bind(slug)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Stores `runbook` as a new version. The primary key refuses a revision stored already.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    runbook: &Runbook,
    source: Source,
    created_by: Option<Uuid>,
    created_by_label: &str,
) -> Result<(), sqlx::Error> {
    let content = serde_json::to_value(runbook).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        "insert into runbook_versions (slug, revision, digest, title, content, source, created_by, created_by_label)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(runbook.slug.as_str())
    .bind(runbook.revision.get() as i32)
    .bind(runbook.digest().as_str())
    .bind(runbook.title.as_str())
    .bind(content)
    .bind(source.as_str())
    .bind(created_by)
    .bind(created_by_label)
    .execute(db)
    .await?;
    Ok(())
}
