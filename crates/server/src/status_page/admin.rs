//! Admin pages for status-page components and groups: list, create, edit, pin a status with
//! a reason and unpin. Every change is audited and tells the status caches to rebuild.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use twisterlab_domain::incident::ComponentStatus;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::auth::{Access, CurrentUser, Routes};
use crate::db::audit::{self, Entry};
use crate::incidents::service::notify_status_change;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

/// Longest component or group name, in characters.
pub const MAX_NAME: usize = 100;
/// Longest description or pin reason, in characters.
pub const MAX_TEXT: usize = 500;
/// Positions admins may choose.
pub const POSITIONS: std::ops::RangeInclusive<i32> = -1000..=100_000;

pub fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/components", admin, list_components)
        .post("/admin/components", admin, create_component)
        .get("/admin/components/{id}", admin, show_component)
        .post("/admin/components/{id}", admin, update_component)
        .post("/admin/components/{id}/pin", admin, pin_component)
        .post("/admin/components/{id}/unpin", admin, unpin_component)
        .post("/admin/component-groups", admin, create_group)
        .post("/admin/component-groups/{id}", admin, update_group)
}

// ---------------------------------------------------------------------------------------------
// Store.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ComponentRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub description_public: bool,
    pub group_id: Option<Uuid>,
    pub group_name: Option<String>,
    pub position: i32,
    pub manual_status: Option<String>,
    pub manual_reason: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GroupRow {
    pub id: Uuid,
    pub name: String,
    pub position: i32,
}

const SELECT_COMPONENT: &str =
    "select c.id, c.name, c.description, c.description_public, c.group_id, g.name as group_name,
        c.position, c.manual_status, c.manual_reason, c.created_at
   from components c left join component_groups g on g.id = c.group_id";

async fn all_components(db: &mut PgConnection) -> Result<Vec<ComponentRow>, sqlx::Error> {
    let sql =
        format!("{SELECT_COMPONENT} order by coalesce(g.position, 1000000), g.name, c.position, c.name");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await
}

async fn find_component(
    db: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<ComponentRow>, sqlx::Error> {
    let sql = format!("{SELECT_COMPONENT} where c.id = $1{}", if lock { " for update of c" } else { "" });
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await
}

async fn all_groups(db: &mut PgConnection) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as("select id, name, position from component_groups order by position, name")
        .fetch_all(db)
        .await
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

// ---------------------------------------------------------------------------------------------
// Validation.

fn check_name(raw: &str, errors: &mut Vec<FieldError>, field: &str) -> String {
    let name = raw.trim();
    if name.is_empty() {
        errors.push(FieldError::new(field, "Enter a name."));
    } else if name.chars().count() > MAX_NAME {
        errors.push(FieldError::new(field, format!("Use at most {MAX_NAME} characters.")));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "Remove the control characters."));
    }
    name.to_owned()
}

fn check_text(raw: &str, errors: &mut Vec<FieldError>, field: &str, required: bool) -> String {
    let text = raw.trim();
    if required && text.is_empty() {
        errors.push(FieldError::new(field, "Say why, for the other admins."));
    } else if text.chars().count() > MAX_TEXT {
        errors.push(FieldError::new(field, format!("Use at most {MAX_TEXT} characters.")));
    }
    text.to_owned()
}

fn check_position(raw: &str, errors: &mut Vec<FieldError>, field: &str) -> i32 {
    let raw = raw.trim();
    if raw.is_empty() {
        return 0;
    }
    match raw.parse::<i32>() {
        Ok(p) if POSITIONS.contains(&p) => p,
        _ => {
            errors.push(FieldError::new(
                field,
                format!("Enter a whole number from {} to {}.", POSITIONS.start(), POSITIONS.end()),
            ));
            0
        }
    }
}

async fn check_group(
    db: &mut PgConnection,
    raw: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let Ok(id) = raw.parse::<Uuid>() else {
        errors.push(FieldError::new("group", "Choose one of the listed groups."));
        return Ok(None);
    };
    let exists: bool = sqlx::query_scalar("select exists (select 1 from component_groups where id = $1)")
        .bind(id)
        .fetch_one(&mut *db)
        .await?;
    if !exists {
        errors.push(FieldError::new("group", "That group no longer exists; choose another."));
    }
    Ok(Some(id))
}

fn first_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, AppError> {
    raw.parse::<Uuid>().map_err(|_| AppError::NotFoundThing { what: what.into() })
}

// ---------------------------------------------------------------------------------------------
// Views.

/// A choice of a select.
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn group_options(groups: &[GroupRow], selected: &str) -> Vec<OptionView> {
    std::iter::once(OptionView {
        value: String::new(),
        label: "No group".into(),
        selected: selected.is_empty(),
    })
    .chain(groups.iter().map(|g| OptionView {
        value: g.id.to_string(),
        label: g.name.clone(),
        selected: g.id.to_string() == selected,
    }))
    .collect()
}

fn status_options(selected: &str) -> Vec<OptionView> {
    ComponentStatus::ALL
        .iter()
        .map(|s| OptionView {
            value: s.as_str().into(),
            label: s.label().into(),
            selected: s.as_str() == selected,
        })
        .collect()
}

/// A component in the admin list.
pub struct ComponentItem {
    pub id: Uuid,
    pub name: String,
    pub group: String,
    pub position: i32,
    pub description: String,
    pub description_public: bool,
    pub pinned: Option<(String, String)>,
    /// What the status page shows now (from the cache), if it has been built.
    pub public_status: Option<(&'static str, &'static str)>,
}

/// Values of the new-component form.
#[derive(Debug, Default, Deserialize)]
pub struct ComponentForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// "on" when the description may be shown publicly.
    #[serde(default)]
    description_public: Option<String>,
    #[serde(default)]
    group: String,
    #[serde(default)]
    position: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    position: String,
}

#[derive(Template)]
#[template(path = "admin/components.html")]
pub struct ComponentsPage {
    pub layout: Layout,
    pub components: Vec<ComponentItem>,
    pub groups: Vec<GroupRow>,
    pub group_choices: Vec<OptionView>,
    pub form: ComponentForm,
    pub group_form: GroupForm,
    pub errors: Vec<FieldError>,
    pub notice: Option<String>,
    /// Which form the errors belong to: "component" or "group".
    pub failed: &'static str,
}

impl ComponentsPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

#[derive(Template)]
#[template(path = "admin/components_edit.html")]
pub struct ComponentPage {
    pub layout: Layout,
    pub id: Uuid,
    pub title: String,
    pub form: ComponentForm,
    pub group_choices: Vec<OptionView>,
    pub status_choices: Vec<OptionView>,
    pub pinned: Option<(String, String)>,
    pub reason: String,
    pub public_status: Option<(&'static str, &'static str)>,
    pub errors: Vec<FieldError>,
    pub notice: Option<String>,
    pub audit_href: String,
}

impl ComponentPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// Only fixed messages, never text from the query string.
fn notice_text(q: &NoticeQuery) -> Option<String> {
    let text = match q.notice.as_deref()? {
        "created" => "Component created.",
        "group-created" => "Group created.",
        "group-saved" => "Group saved.",
        "saved" => "Saved. The status page shows the change within a second.",
        "pinned" => "Status pinned. The status page shows it within a second.",
        "unpinned" => "Pin removed: the status is computed again.",
        "unchanged" => "Nothing to save: the form had no changes.",
        _ => return None,
    };
    Some(text.into())
}

fn public_status_of(app: &AppState, id: Uuid) -> Option<(&'static str, &'static str)> {
    let snapshot = app.status.snapshot()?;
    snapshot.data.component(id).map(|c| (c.status.as_str(), c.status.label()))
}

fn pinned_of(row: &ComponentRow) -> Option<(String, String)> {
    row.manual_status.as_ref().map(|s| {
        let label = s.parse::<ComponentStatus>().map(|s| s.label().to_owned()).unwrap_or_else(|_| s.clone());
        (label, row.manual_reason.clone().unwrap_or_default())
    })
}

async fn list_page(
    app: &AppState,
    layout: Layout,
    form: ComponentForm,
    group_form: GroupForm,
    errors: Vec<FieldError>,
    failed: &'static str,
    notice: Option<String>,
) -> Result<ComponentsPage, AppError> {
    let mut conn = app.pool.acquire().await?;
    let rows = all_components(&mut conn).await?;
    let groups = all_groups(&mut conn).await?;
    let components = rows
        .iter()
        .map(|r| ComponentItem {
            id: r.id,
            name: r.name.clone(),
            group: r.group_name.clone().unwrap_or_default(),
            position: r.position,
            description: r.description.clone(),
            description_public: r.description_public,
            pinned: pinned_of(r),
            public_status: public_status_of(app, r.id),
        })
        .collect();
    let group_choices = group_options(&groups, &form.group);
    Ok(ComponentsPage { layout, components, groups, group_choices, form, group_form, errors, notice, failed })
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// `GET /admin/components`: components by group, the forms to add components and groups.
async fn list_components(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let page =
        list_page(&app, layout, ComponentForm::default(), GroupForm::default(), vec![], "", notice_text(&q))
            .await?;
    Ok(render_page(&page))
}

/// `POST /admin/components`.
async fn create_component(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<ComponentForm>,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    let mut errors = vec![];
    let name = check_name(&form.name, &mut errors, "name");
    let description = check_text(&form.description, &mut errors, "description", false);
    let position = check_position(&form.position, &mut errors, "position");
    let group = check_group(&mut tx, &form.group, &mut errors).await?;
    let public = form.description_public.is_some();
    let id = Uuid::now_v7();
    if errors.is_empty() {
        let inserted = sqlx::query(
            "insert into components (id, group_id, name, description, description_public, position) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(group)
        .bind(&name)
        .bind(&description)
        .bind(public)
        .bind(position)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                errors.push(FieldError::new("name", "A component with this name exists already."))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        drop(tx);
        let page = list_page(&app, layout, form, GroupForm::default(), errors, "component", None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    }
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "component.create",
            target: format!("component:{name}"),
            before: None,
            after: Some(
                json!({"name": name, "group_id": group, "position": position, "description_public": public}),
            ),
        },
    )
    .await?;
    notify_status_change(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(component.id = %id, by = %me.user.id, "admin created a status page component");
    Ok(see_other("/admin/components?notice=created"))
}

async fn component_page(
    app: &AppState,
    layout: Layout,
    row: &ComponentRow,
    form: Option<ComponentForm>,
    reason: String,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<ComponentPage, AppError> {
    let mut conn = app.pool.acquire().await?;
    let groups = all_groups(&mut conn).await?;
    let form = form.unwrap_or_else(|| ComponentForm {
        name: row.name.clone(),
        description: row.description.clone(),
        description_public: row.description_public.then(|| "on".into()),
        group: row.group_id.map(|g| g.to_string()).unwrap_or_default(),
        position: row.position.to_string(),
    });
    Ok(ComponentPage {
        layout,
        id: row.id,
        title: row.name.clone(),
        group_choices: group_options(&groups, &form.group),
        form,
        status_choices: status_options(row.manual_status.as_deref().unwrap_or("major_outage")),
        pinned: pinned_of(row),
        reason,
        public_status: public_status_of(app, row.id),
        errors,
        notice,
        audit_href: format!(
            "/admin/audit?target={}",
            crate::auth::urlencode(&format!("component:{}", row.name))
        ),
    })
}

/// `GET /admin/components/{id}`.
async fn show_component(
    State(app): State<AppState>,
    layout: Layout,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This component")?;
    let mut conn = app.pool.acquire().await?;
    let row = find_component(&mut conn, id, false)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This component".into() })?;
    drop(conn);
    let page = component_page(&app, layout, &row, None, String::new(), vec![], notice_text(&q)).await?;
    Ok(render_page(&page))
}

/// `POST /admin/components/{id}`: name, description (and whether it is public), group, position.
async fn update_component(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<ComponentForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This component")?;
    let mut tx = app.pool.begin().await?;
    let before = find_component(&mut tx, id, true)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This component".into() })?;
    let mut errors = vec![];
    let name = check_name(&form.name, &mut errors, "name");
    let description = check_text(&form.description, &mut errors, "description", false);
    let position = check_position(&form.position, &mut errors, "position");
    let group = check_group(&mut tx, &form.group, &mut errors).await?;
    let public = form.description_public.is_some();
    if errors.is_empty()
        && name == before.name
        && description == before.description
        && public == before.description_public
        && group == before.group_id
        && position == before.position
    {
        return Ok(see_other(&format!("/admin/components/{id}?notice=unchanged")));
    }
    if errors.is_empty() {
        let updated = sqlx::query(
            "update components set name = $2, description = $3, description_public = $4, group_id = $5, position = $6 where id = $1",
        )
        .bind(id)
        .bind(&name)
        .bind(&description)
        .bind(public)
        .bind(group)
        .bind(position)
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                errors.push(FieldError::new("name", "Another component has this name."))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        drop(tx);
        let page = component_page(&app, layout, &before, Some(form), String::new(), errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    }
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "component.update",
            target: format!("component:{}", before.name),
            before: Some(json!({"name": before.name, "description": before.description, "description_public": before.description_public,
                                "group_id": before.group_id, "position": before.position})),
            after: Some(json!({"name": name, "description": description, "description_public": public, "group_id": group, "position": position})),
        },
    )
    .await?;
    notify_status_change(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(component.id = %id, by = %me.user.id, "admin updated a status page component");
    Ok(see_other(&format!("/admin/components/{id}?notice=saved")))
}

#[derive(Debug, Default, Deserialize)]
pub struct PinForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/components/{id}/pin`: a status that counts until unpinned, with the reason
/// (shown to admins only, never on the status page).
async fn pin_component(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<PinForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This component")?;
    let mut tx = app.pool.begin().await?;
    let before = find_component(&mut tx, id, true)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This component".into() })?;
    let mut errors = vec![];
    let status = form
        .status
        .parse::<ComponentStatus>()
        .map_err(|_| errors.push(FieldError::new("status", "Choose one of the listed states.")))
        .ok();
    let reason = check_text(&form.reason, &mut errors, "reason", true);
    let Some(status) = status.filter(|_| errors.is_empty()) else {
        drop(tx);
        let mut page = component_page(&app, layout, &before, None, form.reason.clone(), errors, None).await?;
        page.status_choices = status_options(&form.status);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    };
    sqlx::query("update components set manual_status = $2, manual_reason = $3 where id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "component.pin",
            target: format!("component:{}", before.name),
            before: Some(
                json!({"manual_status": before.manual_status, "manual_reason": before.manual_reason}),
            ),
            after: Some(json!({"manual_status": status.as_str(), "manual_reason": reason})),
        },
    )
    .await?;
    notify_status_change(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(component.id = %id, component.status = status.as_str(), by = %me.user.id, "admin pinned a component status");
    Ok(see_other(&format!("/admin/components/{id}?notice=pinned")))
}

/// `POST /admin/components/{id}/unpin`.
async fn unpin_component(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This component")?;
    let mut tx = app.pool.begin().await?;
    let before = find_component(&mut tx, id, true)
        .await?
        .ok_or(AppError::NotFoundThing { what: "This component".into() })?;
    if before.manual_status.is_none() {
        return Ok(see_other(&format!("/admin/components/{id}?notice=unchanged")));
    }
    sqlx::query("update components set manual_status = null, manual_reason = null where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "component.unpin",
            target: format!("component:{}", before.name),
            before: Some(
                json!({"manual_status": before.manual_status, "manual_reason": before.manual_reason}),
            ),
            after: Some(json!({"manual_status": null})),
        },
    )
    .await?;
    notify_status_change(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(component.id = %id, by = %me.user.id, "admin unpinned a component status");
    Ok(see_other(&format!("/admin/components/{id}?notice=unpinned")))
}

/// `POST /admin/component-groups`.
async fn create_group(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<GroupForm>,
) -> Result<Response, AppError> {
    let mut errors = vec![];
    let name = check_name(&form.name, &mut errors, "group_name");
    let position = check_position(&form.position, &mut errors, "group_position");
    let mut tx = app.pool.begin().await?;
    let id = Uuid::now_v7();
    if errors.is_empty() {
        let inserted = sqlx::query("insert into component_groups (id, name, position) values ($1, $2, $3)")
            .bind(id)
            .bind(&name)
            .bind(position)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                errors.push(FieldError::new("group_name", "A group with this name exists already."))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        drop(tx);
        let page = list_page(&app, layout, ComponentForm::default(), form, errors, "group", None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    }
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "component_group.create",
            target: format!("component_group:{name}"),
            before: None,
            after: Some(json!({"name": name, "position": position})),
        },
    )
    .await?;
    notify_status_change(&mut tx).await?;
    tx.commit().await?;
    Ok(see_other("/admin/components?notice=group-created"))
}

/// `POST /admin/component-groups/{id}`: rename or move a group.
async fn update_group(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<GroupForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This group")?;
    let mut tx = app.pool.begin().await?;
    let before: GroupRow =
        sqlx::query_as("select id, name, position from component_groups where id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AppError::NotFoundThing { what: "This group".into() })?;
    let mut errors = vec![];
    let name = check_name(&form.name, &mut errors, "group_name");
    let position = check_position(&form.position, &mut errors, "group_position");
    if errors.is_empty() && name == before.name && position == before.position {
        return Ok(see_other("/admin/components?notice=unchanged"));
    }
    if errors.is_empty() {
        let updated = sqlx::query("update component_groups set name = $2, position = $3 where id = $1")
            .bind(id)
            .bind(&name)
            .bind(position)
            .execute(&mut *tx)
            .await;
        match updated {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                errors.push(FieldError::new("group_name", "Another group has this name."))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        drop(tx);
        let page = list_page(&app, layout, ComponentForm::default(), form, errors, "group", None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    }
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "component_group.update",
            target: format!("component_group:{}", before.name),
            before: Some(json!({"name": before.name, "position": before.position})),
            after: Some(json!({"name": name, "position": position})),
        },
    )
    .await?;
    notify_status_change(&mut tx).await?;
    tx.commit().await?;
    Ok(see_other("/admin/components?notice=group-saved"))
}
