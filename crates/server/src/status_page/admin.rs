//! Admin pages for status-page components and groups: list, create, edit, delete, pin a
//! status with a reason and unpin. Handlers only read the form, call `status_page::service`
//! in a transaction and redirect, or show the form again with its errors.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use sqlx::PgConnection;
use twisterlab_domain::incident::ComponentStatus;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::service::{self, ComponentError, ComponentInput, GroupInput, PinInput, Saved};
use crate::auth::{Access, CurrentUser, Routes};
use crate::db::components::{self, Component, Group};
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, PathId, form_outcome, see_other_with_notice};
use crate::web::page::{Layout, render_page};

pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/components", admin, list_components)
        .post("/admin/components", admin, create_component)
        .get("/admin/components/{id}", admin, show_component)
        .post("/admin/components/{id}", admin, update_component)
        .post("/admin/components/{id}/pin", admin, pin_component)
        .post("/admin/components/{id}/unpin", admin, unpin_component)
        .post("/admin/components/{id}/delete", admin, delete_component)
        .post("/admin/component-groups", admin, create_group)
        .post("/admin/component-groups/{id}", admin, update_group)
        .post("/admin/component-groups/{id}/delete", admin, delete_group)
}

const NOTICES: Notices = &[
    ("created", "Component created."),
    ("deleted", "Component deleted."),
    ("group-created", "Group created."),
    ("group-saved", "Group saved."),
    ("group-deleted", "Group deleted; its components are listed without a group."),
    ("saved", "Saved. The status page shows the change within a second."),
    ("pinned", "Status pinned. The status page shows it within a second."),
    ("unpinned", "Pin removed: the status is computed again."),
    ("unchanged", "Nothing to save: the form had no changes."),
];

const LIST: &str = "/admin/components";

/// Runs a use case in a transaction of its own, committed when it succeeds.
async fn in_tx<T>(
    app: &AppState,
    use_case: impl AsyncFnOnce(&mut PgConnection) -> Result<T, ComponentError>,
) -> Result<T, AppError> {
    let mut tx = app.pool.begin().await?;
    let value = use_case(&mut tx).await?;
    tx.commit().await?;
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Forms.

/// The component form, as posted.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ComponentForm {
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

impl ComponentForm {
    fn of(c: &Component) -> Self {
        Self {
            name: c.name.clone(),
            description: c.description.clone(),
            description_public: c.description_public.then(|| "on".into()),
            group: c.group_id.map(|g| g.to_string()).unwrap_or_default(),
            position: c.position.to_string(),
        }
    }

    fn input(&self) -> ComponentInput {
        ComponentInput {
            name: self.name.clone(),
            description: self.description.clone(),
            description_public: self.description_public.is_some(),
            group: self.group.clone(),
            position: self.position.clone(),
        }
    }
}

/// A group form: the "new group" form posts `group_name`/`group_position` (its fields share the
/// page with the component form), each group's own form `name`/`position`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GroupForm {
    #[serde(default, alias = "group_name")]
    name: String,
    #[serde(default, alias = "group_position")]
    position: String,
}

impl GroupForm {
    fn input(&self) -> GroupInput {
        GroupInput { name: self.name.clone(), position: self.position.clone() }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PinForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

/// The use case's field errors under the names of the page's fields (`name` → `group_name`).
fn renamed(errors: FieldErrors, prefix: &str) -> FieldErrors {
    errors
        .iter()
        .map(|e| FieldError::new(format!("{prefix}{}", e.field), e.message.clone()))
        .collect::<Vec<_>>()
        .into()
}

fn group_choices(groups: &[Group], selected: &str) -> Vec<Choice> {
    std::iter::once(Choice::new("", "No group", selected.is_empty()))
        .chain(
            groups
                .iter()
                .map(|g| Choice::new(g.id.to_string(), g.name.clone(), g.id.to_string() == selected)),
        )
        .collect()
}

fn status_choices(selected: &str) -> Vec<Choice> {
    ComponentStatus::ALL.iter().map(|s| Choice::new(s.as_str(), s.label(), s.as_str() == selected)).collect()
}

/// What the status page shows for the component now (from this process's cache): CSS class
/// and words; `None` before the first build.
fn public_status_of(app: &AppState, id: Uuid) -> Option<(&'static str, &'static str)> {
    let snapshot = app.status.snapshot()?;
    snapshot.data.component(id).map(|c| (c.status.as_str(), c.status.label()))
}

/// The pin's words and reason.
fn pinned_of(c: &Component) -> Option<(&'static str, String)> {
    c.pin.as_ref().map(|p| (p.status.label(), p.reason.clone()))
}

// ---------------------------------------------------------------------------------------------
// The list.

/// A component in the admin list.
pub(crate) struct ComponentItem {
    pub id: Uuid,
    pub name: String,
    pub group: String,
    pub position: i32,
    pub description: String,
    pub description_public: bool,
    pub pinned: Option<(&'static str, String)>,
    /// What the status page shows now (from the cache), if it has been built.
    pub public_status: Option<(&'static str, &'static str)>,
}

/// A group's own form in the list.
pub(crate) struct GroupItem {
    pub id: Uuid,
    pub name: String,
    pub position: String,
    /// Field keys of this group's form in `errors`.
    pub name_key: String,
    pub position_key: String,
}

#[derive(Template)]
#[template(path = "admin/components.html")]
pub(crate) struct ComponentsPage {
    pub layout: Layout,
    pub components: Vec<ComponentItem>,
    pub groups: Vec<GroupItem>,
    pub group_choices: Vec<Choice>,
    pub form: ComponentForm,
    pub group_form: GroupForm,
    pub errors: FieldErrors,
    pub notice: Option<&'static str>,
}

/// What the list page shows, read before a change so a refused form can be shown again.
struct ListData {
    components: Vec<Component>,
    groups: Vec<Group>,
}

impl ListData {
    async fn load(app: &AppState) -> Result<Self, AppError> {
        let mut conn = app.pool.acquire().await?;
        Ok(Self {
            components: components::list(&mut *conn).await?,
            groups: components::groups(&mut *conn).await?,
        })
    }

    /// The page; `edited` is a group whose own form came back with errors (shown as entered).
    fn page(
        self,
        app: &AppState,
        layout: Layout,
        form: ComponentForm,
        group_form: GroupForm,
        edited: Option<(Uuid, GroupForm)>,
        errors: FieldErrors,
    ) -> ComponentsPage {
        let components = self
            .components
            .iter()
            .map(|c| ComponentItem {
                id: c.id,
                name: c.name.clone(),
                group: c.group_name.clone().unwrap_or_default(),
                position: c.position,
                description: c.description.clone(),
                description_public: c.description_public,
                pinned: pinned_of(c),
                public_status: public_status_of(app, c.id),
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let (name, position) = match &edited {
                    Some((id, f)) if *id == g.id => (f.name.clone(), f.position.clone()),
                    _ => (g.name.clone(), g.position.to_string()),
                };
                GroupItem {
                    id: g.id,
                    name,
                    position,
                    name_key: format!("g-{}-name", g.id),
                    position_key: format!("g-{}-position", g.id),
                }
            })
            .collect();
        ComponentsPage {
            layout,
            components,
            group_choices: group_choices(&self.groups, &form.group),
            groups,
            form,
            group_form,
            errors,
            notice: None,
        }
    }
}

/// `GET /admin/components`: components by group, the forms to add components and groups.
async fn list_components(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let data = ListData::load(&app).await?;
    let mut page =
        data.page(&app, layout, ComponentForm::default(), GroupForm::default(), None, FieldErrors::new());
    page.notice = q.text(NOTICES);
    Ok(render_page(&page))
}

/// `POST /admin/components`.
async fn create_component(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<ComponentForm>,
) -> Result<Response, AppError> {
    let again = ListData::load(&app).await?;
    let input = form.input();
    let result = in_tx(&app, async |tx| service::create_component(tx, &me.actor, &input).await).await;
    Ok(form_outcome(result.map(|_| see_other_with_notice(LIST, "created")), |errors| {
        render_page(&again.page(&app, layout, form, GroupForm::default(), None, errors))
    }))
}

/// `POST /admin/component-groups`.
async fn create_group(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<GroupForm>,
) -> Result<Response, AppError> {
    let again = ListData::load(&app).await?;
    let input = form.input();
    let result = in_tx(&app, async |tx| service::create_group(tx, &me.actor, &input).await).await;
    Ok(form_outcome(result.map(|_| see_other_with_notice(LIST, "group-created")), |errors| {
        let errors = renamed(errors, "group_");
        render_page(&again.page(&app, layout, ComponentForm::default(), form, None, errors))
    }))
}

/// `POST /admin/component-groups/{id}`: rename or move a group.
async fn update_group(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<GroupForm>,
) -> Result<Response, AppError> {
    let again = ListData::load(&app).await?;
    let input = form.input();
    let result = in_tx(&app, async |tx| service::update_group(tx, &me.actor, id, &input).await).await;
    let result = result.map(|saved| match saved {
        Saved::Changed => see_other_with_notice(LIST, "group-saved"),
        Saved::Unchanged => see_other_with_notice(LIST, "unchanged"),
    });
    Ok(form_outcome(result, |errors| {
        let errors = renamed(errors, &format!("g-{id}-"));
        render_page(&again.page(
            &app,
            layout,
            ComponentForm::default(),
            GroupForm::default(),
            Some((id, form)),
            errors,
        ))
    }))
}

/// `POST /admin/component-groups/{id}/delete`: its components stay, without a group.
async fn delete_group(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    in_tx(&app, async |tx| service::delete_group(tx, &me.actor, id).await).await?;
    Ok(see_other_with_notice(LIST, "group-deleted"))
}

// ---------------------------------------------------------------------------------------------
// One component.

#[derive(Template)]
#[template(path = "admin/components_edit.html")]
pub(crate) struct ComponentPage {
    pub layout: Layout,
    pub id: Uuid,
    pub title: String,
    pub form: ComponentForm,
    pub group_choices: Vec<Choice>,
    pub status_choices: Vec<Choice>,
    pub pinned: Option<(&'static str, String)>,
    pub reason: String,
    pub public_status: Option<(&'static str, &'static str)>,
    pub errors: FieldErrors,
    pub notice: Option<&'static str>,
    pub audit_href: String,
}

/// What the component page shows, read before a change so a refused form can be shown again.
struct ComponentData {
    component: Component,
    groups: Vec<Group>,
}

impl ComponentData {
    async fn load(app: &AppState, id: Uuid) -> Result<Self, AppError> {
        let mut conn = app.pool.acquire().await?;
        let component = components::find(&mut *conn, id)
            .await?
            .ok_or(AppError::NotFoundThing { what: "This component".into() })?;
        Ok(Self { component, groups: components::groups(&mut *conn).await? })
    }

    /// The page, with the edit form as posted (`form`) or as stored.
    fn page(
        self,
        app: &AppState,
        layout: Layout,
        form: Option<ComponentForm>,
        errors: FieldErrors,
    ) -> ComponentPage {
        let c = &self.component;
        let form = form.unwrap_or_else(|| ComponentForm::of(c));
        let pinned_status = c.pin.as_ref().map_or(ComponentStatus::MajorOutage, |p| p.status);
        ComponentPage {
            layout,
            id: c.id,
            title: c.name.clone(),
            group_choices: group_choices(&self.groups, &form.group),
            form,
            status_choices: status_choices(pinned_status.as_str()),
            pinned: pinned_of(c),
            reason: String::new(),
            public_status: public_status_of(app, c.id),
            errors,
            notice: None,
            audit_href: format!(
                "/admin/audit?target={}",
                crate::auth::urlencode(&format!("component:{}", c.name))
            ),
        }
    }
}

fn component_path(id: Uuid) -> String {
    format!("{LIST}/{id}")
}

/// `GET /admin/components/{id}`.
async fn show_component(
    State(app): State<AppState>,
    layout: Layout,
    PathId(id): PathId,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let mut page = ComponentData::load(&app, id).await?.page(&app, layout, None, FieldErrors::new());
    page.notice = q.text(NOTICES);
    Ok(render_page(&page))
}

/// `POST /admin/components/{id}`: name, description (and whether it is public), group, position.
async fn update_component(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<ComponentForm>,
) -> Result<Response, AppError> {
    let again = ComponentData::load(&app, id).await?;
    let input = form.input();
    let result = in_tx(&app, async |tx| service::update_component(tx, &me.actor, id, &input).await).await;
    let result = result.map(|saved| match saved {
        Saved::Changed => see_other_with_notice(&component_path(id), "saved"),
        Saved::Unchanged => see_other_with_notice(&component_path(id), "unchanged"),
    });
    Ok(form_outcome(result, |errors| render_page(&again.page(&app, layout, Some(form), errors))))
}

/// `POST /admin/components/{id}/pin`: a status the public reads until unpinned, with the reason
/// (shown to admins only, never on the status page).
async fn pin_component(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<PinForm>,
) -> Result<Response, AppError> {
    let again = ComponentData::load(&app, id).await?;
    let input = PinInput { status: form.status.clone(), reason: form.reason.clone() };
    let result = in_tx(&app, async |tx| service::pin_component(tx, &me.actor, id, &input).await).await;
    Ok(form_outcome(result.map(|_| see_other_with_notice(&component_path(id), "pinned")), |errors| {
        let mut page = again.page(&app, layout, None, errors);
        page.status_choices = status_choices(&form.status);
        page.reason = form.reason;
        render_page(&page)
    }))
}

/// `POST /admin/components/{id}/unpin`.
async fn unpin_component(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let saved = in_tx(&app, async |tx| service::unpin_component(tx, &me.actor, id).await).await?;
    let notice = if saved == Saved::Changed { "unpinned" } else { "unchanged" };
    Ok(see_other_with_notice(&component_path(id), notice))
}

/// `POST /admin/components/{id}/delete`: refused for a component an incident names.
async fn delete_component(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    in_tx(&app, async |tx| service::delete_component(tx, &me.actor, id).await).await?;
    Ok(see_other_with_notice(LIST, "deleted"))
}
