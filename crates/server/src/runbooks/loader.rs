//! Start-up loading of the shipped runbook files (`runbooks/*.toml`, compiled in as
//! `runbook::SHIPPED_FILES`).
//!
//! The rule: a file is stored as a new version when no version of its runbook is stored, or
//! when its `revision` is higher than the latest stored one (`domain::runbook::compare_with_stored`).
//! An admin's edit in the portal raises the stored revision, so a file is never older than an
//! edit and still loaded: to replace an edit from the repository, raise the file's `revision`
//! above the edited one. A file with the stored revision but different content (edited
//! without raising `revision`) is not loaded and the start-up log says so.
//!
//! A file that does not parse stops the start with one line per problem, naming file, line and
//! field.

use anyhow::Context as _;
use sqlx::PgPool;
use twisterlab_domain::runbook::{FileVsStored, SHIPPED_FILES, compare_with_stored, parse_runbooks};

use crate::db::runbooks::{self as store, Source};

/// What loading changed: the slugs stored as new versions.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Loaded {
    pub stored: Vec<String>,
}

/// Loads the shipped files (see the module documentation).
pub(crate) async fn load_shipped(pool: &PgPool) -> anyhow::Result<Loaded> {
    load_files(pool, SHIPPED_FILES.iter().map(|f| (f.name, f.text))).await
}

/// Loads `files` (name, TOML text): every file must parse, or nothing is stored and the error
/// lists each problem as `runbooks/<file>:<line>:<column>: <field>: <message>`.
pub(crate) async fn load_files<'a, I>(pool: &PgPool, files: I) -> anyhow::Result<Loaded>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let named: Vec<(String, &str)> =
        files.into_iter().map(|(name, text)| (format!("runbooks/{name}"), text)).collect();
    let runbooks = parse_runbooks(named.iter().map(|(n, t)| (n.as_str(), *t))).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the runbook files do not load; fix them and start again:\n{}", lines.join("\n"))
    })?;
    let mut loaded = Loaded::default();
    for runbook in &runbooks {
        let mut tx = pool.begin().await?;
        store::lock_slug(&mut tx, runbook.slug.as_str()).await?;
        let latest = store::latest(&mut *tx, runbook.slug.as_str()).await?;
        let stored = latest.as_ref().map(|v| (v.runbook.revision, &v.digest));
        match compare_with_stored(runbook, stored) {
            FileVsStored::NotStored | FileVsStored::FileNewer => {
                store::insert(&mut *tx, runbook, Source::File, None, "system")
                    .await
                    .with_context(|| format!("cannot store the runbook {}", runbook.slug))?;
                tracing::info!(runbook = %runbook.slug, revision = %runbook.revision, "stored the runbook file as a new version");
                loaded.stored.push(runbook.slug.to_string());
            }
            FileVsStored::Same => {}
            FileVsStored::StoredNewer => tracing::info!(
                runbook = %runbook.slug,
                file_revision = %runbook.revision,
                "the stored runbook was edited in the portal and is newer than its file; keeping it (raise the file's revision to replace it)"
            ),
            FileVsStored::SameRevisionDiffers => tracing::warn!(
                runbook = %runbook.slug,
                revision = %runbook.revision,
                "the runbook file changed without raising its revision; keeping the stored version (raise revision in runbooks/{}.toml)",
                runbook.slug
            ),
        }
        tx.commit().await?;
    }
    Ok(loaded)
}
