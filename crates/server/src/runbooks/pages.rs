//! `/runbooks` (every runbook with its symptoms), `/runbooks/{slug}` (sections and steps,
//! versions) and the admin's edit form `/runbooks/{slug}/edit` (the TOML text; a new revision).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use jiff::Timestamp;
use serde::Deserialize;
use twisterlab_domain::role::Role;
use twisterlab_domain::runbook::{Revision, to_toml};

use super::service;
use super::view::{self, SectionView};
use crate::auth::CurrentUser;
use crate::db::runbooks as store;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, form_outcome, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

const NOTICES: Notices =
    &[("saved", "Saved as a new revision. Runs already started keep the revision they started with.")];

/// A runbook in the list.
pub(crate) struct RunbookItem {
    pub slug: String,
    pub title: String,
    pub revision: u32,
    pub symptoms: Vec<String>,
    pub steps: usize,
}

#[derive(Template)]
#[template(path = "runbooks/list.html")]
pub(crate) struct ListPage {
    pub layout: Layout,
    pub runbooks: Vec<RunbookItem>,
}

pub(crate) async fn list(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    let runbooks = store::latest_all(&app.pool)
        .await?
        .into_iter()
        .map(|v| RunbookItem {
            slug: v.runbook.slug.to_string(),
            title: v.runbook.title.to_string(),
            revision: v.runbook.revision.get(),
            symptoms: v.runbook.symptoms.clone(),
            steps: v.runbook.step_keys().len(),
        })
        .collect();
    Ok(render_page(&ListPage { layout, runbooks }))
}

/// A stored version in the list of versions.
pub(crate) struct VersionItem {
    pub revision: u32,
    pub source: String,
    pub by: String,
    pub at: Moment,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "runbooks/show.html")]
pub(crate) struct ShowPage {
    pub layout: Layout,
    pub slug: String,
    pub title: String,
    pub revision: u32,
    pub latest: bool,
    pub summary_html: String,
    pub symptoms: Vec<String>,
    pub sections: Vec<SectionView>,
    pub versions: Vec<VersionItem>,
    pub can_edit: bool,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

pub(crate) async fn show(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(slug): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let not_found = || AppError::NotFoundThing { what: format!("The runbook {slug}") };
    let latest = store::latest(&app.pool, &slug).await?.ok_or_else(not_found)?;
    let version = match query.revision.as_deref().map(str::parse::<i64>) {
        None => latest.clone(),
        Some(Ok(n)) => {
            let revision = Revision::new(n).map_err(|_| not_found())?;
            store::find(&app.pool, &slug, revision).await?.ok_or_else(not_found)?
        }
        Some(Err(_)) => return Err(not_found()),
    };
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let shown = version.runbook.revision;
    let versions = store::versions(&app.pool, &slug)
        .await?
        .into_iter()
        .map(|v| VersionItem {
            revision: v.revision.get(),
            source: if v.source == "file" { "file".into() } else { "edited in the portal".into() },
            by: v.created_by_label,
            at: Moment::new(v.created_at, zone, now),
            current: v.revision == shown,
        })
        .collect();
    let notice = NoticeQuery { notice: query.notice }.text(NOTICES);
    let rb = &version.runbook;
    Ok(render_page(&ShowPage {
        slug: rb.slug.to_string(),
        title: rb.title.to_string(),
        revision: shown.get(),
        latest: shown == latest.runbook.revision,
        summary_html: crate::markdown::to_html(&rb.summary),
        symptoms: rb.symptoms.clone(),
        sections: view::sections(rb),
        versions,
        can_edit: user.role.allows(Role::Admin),
        notice,
        layout,
    }))
}

#[derive(Template)]
#[template(path = "runbooks/edit.html")]
pub(crate) struct EditPage {
    pub layout: Layout,
    pub slug: String,
    pub title: String,
    pub revision: u32,
    pub content: String,
    pub errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    content: String,
}

pub(crate) async fn edit(
    State(app): State<AppState>,
    layout: Layout,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let latest = store::latest(&app.pool, &slug)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("The runbook {slug}") })?;
    Ok(render_page(&EditPage {
        slug: slug.clone(),
        title: latest.runbook.title.to_string(),
        revision: latest.runbook.revision.get(),
        content: to_toml(&latest.runbook),
        errors: FieldErrors::new(),
        layout,
    }))
}

pub(crate) async fn save(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(slug): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::save_edit(&mut tx, &user.actor, &slug, &form.content).await?;
        tx.commit().await?;
        Ok::<_, AppError>(see_other_with_notice(&format!("/runbooks/{slug}"), "saved"))
    }
    .await;
    let latest = store::latest(&app.pool, &slug).await?;
    Ok(form_outcome(result, |errors| {
        render_page(&EditPage {
            title: latest.as_ref().map(|v| v.runbook.title.to_string()).unwrap_or_default(),
            revision: latest.as_ref().map_or(0, |v| v.runbook.revision.get()),
            slug: slug.clone(),
            content: form.content.clone(),
            errors,
            layout,
        })
    }))
}
