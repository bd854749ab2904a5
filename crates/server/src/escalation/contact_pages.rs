//! Contact-method pages: a person's own (`/account/contacts`) and, for admins, anyone's
//! (`/admin/users/{id}/contacts`), with the same list, forms, confirmation and "Send a test"
//! button. The changes are use cases in `escalation::contacts`; the test message goes through
//! the outbox's `Sender`, like every delivery.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;
use twisterlab_domain::contact::ContactKind;
use uuid::Uuid;

use super::channels;
use super::contacts::{self, ContactInput};
use super::outbox::{DeliveryPolicy, Sender};
use crate::auth::CurrentUser;
use crate::db::contact_methods::{self as store, ContactMethod};
use crate::db::notifications::Destination;
use crate::db::users;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::confirm::{ConfirmPage, Confirmation};
use crate::web::error::AppError;
use crate::web::form::{
    Choice, NoticeQuery, Notices, PathId, form_outcome, no_store, parse_id, see_other_with_notice,
};
use crate::web::page::{Layout, render_page};

/// Whose contact methods a page is about, and where its pages live.
pub(crate) struct Owner {
    pub(crate) id: Uuid,
    /// `/account/contacts` or `/admin/users/{id}/contacts`.
    pub(crate) base: String,
    /// "Your contact methods" or "Maya's contact methods".
    pub(crate) heading: String,
    /// (href, text) of the page above.
    pub(crate) back: (String, String),
}

impl Owner {
    fn me(me: &CurrentUser) -> Self {
        Self {
            id: me.user.id,
            base: "/account/contacts".into(),
            heading: "Your contact methods".into(),
            back: ("/account".into(), "Your account".into()),
        }
    }

    async fn user(app: &AppState, id: Uuid) -> Result<Self, AppError> {
        let user = users::find(&app.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFoundThing { what: "This user".into() })?;
        Ok(Self {
            id,
            base: format!("/admin/users/{id}/contacts"),
            heading: format!("{}'s contact methods", user.display_name),
            back: (format!("/admin/users/{id}"), user.display_name),
        })
    }

    /// The owner's contact method `id`; someone else's is "not found".
    async fn method(&self, app: &AppState, id: Uuid) -> Result<ContactMethod, AppError> {
        store::find(&app.pool, id).await?.filter(|m| m.user_id == self.id).ok_or_else(not_found)
    }
}

fn not_found() -> AppError {
    AppError::NotFoundThing { what: "This contact method".into() }
}

/// A contact method as pages show it: a webhook URL masked, a routing key hidden.
pub(crate) struct ContactView {
    pub(crate) id: Uuid,
    pub(crate) kind_label: &'static str,
    pub(crate) label: String,
    pub(crate) target: String,
    pub(crate) enabled: bool,
    pub(crate) has_secret: bool,
}

/// What pages show of a contact method's target.
pub(crate) fn shown_target(kind: ContactKind, target: &str) -> String {
    match kind {
        ContactKind::Webhook => channels::mask_url(target),
        ContactKind::Pagerduty => {
            format!(
                "routing key …{}",
                target.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>()
            )
        }
        ContactKind::Slack => format!("Slack member {target}"),
        ContactKind::Email => target.to_owned(),
    }
}

impl ContactView {
    fn of(m: &ContactMethod) -> Self {
        Self {
            id: m.id,
            kind_label: m.kind.label(),
            label: m.label.clone(),
            target: shown_target(m.kind, &m.target),
            enabled: m.enabled,
            has_secret: m.secret.is_some(),
        }
    }
}

/// The result of "Send a test", shown at once.
pub(crate) struct TestView {
    pub(crate) name: String,
    pub(crate) delivered: bool,
    pub(crate) text: String,
}

#[derive(Template)]
#[template(path = "account/contacts.html")]
pub(crate) struct ContactsPage {
    pub(crate) layout: Layout,
    pub(crate) owner: Owner,
    pub(crate) contacts: Vec<ContactView>,
    pub(crate) kinds: Vec<Choice>,
    pub(crate) label: String,
    pub(crate) target: String,
    pub(crate) enabled: bool,
    pub(crate) errors: FieldErrors,
    pub(crate) notice: Option<&'static str>,
    pub(crate) test: Option<TestView>,
}

/// The flashes of the contact pages.
const NOTICES: Notices = &[
    ("added", "Contact method added: your next page reaches it."),
    ("saved", "Contact method saved."),
    ("enabled", "Contact method enabled."),
    ("disabled", "Contact method disabled: pages no longer use it."),
    ("deleted", "Contact method deleted, with its undelivered notifications."),
];

/// The contact-method form as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ContactForm {
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) label: String,
    #[serde(default)]
    pub(crate) target: String,
    #[serde(default)]
    pub(crate) secret: String,
    /// "on" when the box is checked.
    #[serde(default)]
    pub(crate) enabled: Option<String>,
}

impl ContactForm {
    fn input(&self) -> ContactInput {
        ContactInput {
            kind: self.kind.clone(),
            label: self.label.clone(),
            target: self.target.clone(),
            secret: self.secret.clone(),
            enabled: self.enabled.is_some(),
        }
    }
}

fn kinds(selected: &str) -> Vec<Choice> {
    ContactKind::ALL
        .into_iter()
        .map(|k| {
            let label = match k {
                ContactKind::Slack => "Slack member ID",
                ContactKind::Webhook => "Webhook (signed POST)",
                ContactKind::Pagerduty => "PagerDuty routing key",
                ContactKind::Email => "E-mail address",
            };
            Choice::new(k.as_str(), label, k.as_str() == selected)
        })
        .collect()
}

/// The list page with the add form (`form` as typed, `errors` on it) and a test result.
async fn list_page(
    app: &AppState,
    layout: Layout,
    owner: Owner,
    form: Option<&ContactForm>,
    errors: FieldErrors,
    notice: Option<&'static str>,
    test: Option<TestView>,
) -> Result<Response, AppError> {
    let contacts = store::of_user(&app.pool, owner.id).await?.iter().map(ContactView::of).collect();
    let page = ContactsPage {
        layout,
        owner,
        contacts,
        kinds: kinds(form.map_or("slack", |f| f.kind.as_str())),
        label: form.map(|f| f.label.clone()).unwrap_or_default(),
        target: form.map(|f| f.target.clone()).unwrap_or_default(),
        enabled: form.is_none_or(|f| f.enabled.is_some()),
        errors,
        notice,
        test,
    };
    Ok(no_store(render_page(&page)))
}

async fn list(app: AppState, layout: Layout, owner: Owner, q: NoticeQuery) -> Result<Response, AppError> {
    list_page(&app, layout, owner, None, FieldErrors::new(), q.text(NOTICES), None).await
}

async fn create(
    app: AppState,
    me: CurrentUser,
    layout: Layout,
    owner: Owner,
    form: ContactForm,
) -> Result<Response, AppError> {
    let input = form.input();
    let result = async {
        let mut tx = app.pool.begin().await?;
        contacts::add_contact(&mut tx, &me.actor, owner.id, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&owner.base, "added"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let mut response = list_page(&app, layout, owner, Some(&form), errors.into(), None, None).await?;
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        other => other,
    }
}

#[derive(Template)]
#[template(path = "account/contact_form.html")]
pub(crate) struct ContactFormPage {
    pub(crate) layout: Layout,
    pub(crate) owner: Owner,
    pub(crate) current: ContactView,
    pub(crate) kind: &'static str,
    pub(crate) label: String,
    /// Shown in the target field: empty for a webhook URL or a routing key (blank keeps it).
    pub(crate) target: String,
    pub(crate) target_hidden: bool,
    pub(crate) enabled: bool,
    pub(crate) errors: FieldErrors,
}

impl ContactFormPage {
    fn target_label(&self) -> &'static str {
        match self.kind {
            "slack" => "Slack member ID",
            "webhook" => "Webhook URL",
            "pagerduty" => "Routing key",
            _ => "E-mail address",
        }
    }
}

fn form_page(
    layout: Layout,
    owner: Owner,
    m: &ContactMethod,
    form: Option<&ContactForm>,
    errors: FieldErrors,
) -> Response {
    let target_hidden = contacts::target_is_secret(m.kind);
    let page = ContactFormPage {
        layout,
        owner,
        current: ContactView::of(m),
        kind: m.kind.as_str(),
        label: form.map_or_else(|| m.label.clone(), |f| f.label.clone()),
        target: match form {
            Some(f) => f.target.clone(),
            None if target_hidden => String::new(),
            None => m.target.clone(),
        },
        target_hidden,
        enabled: form.map_or(m.enabled, |f| f.enabled.is_some()),
        errors,
    };
    no_store(render_page(&page))
}

async fn show(app: AppState, layout: Layout, owner: Owner, id: Uuid) -> Result<Response, AppError> {
    let m = owner.method(&app, id).await?;
    Ok(form_page(layout, owner, &m, None, FieldErrors::new()))
}

async fn update(
    app: AppState,
    me: CurrentUser,
    layout: Layout,
    owner: Owner,
    id: Uuid,
    form: ContactForm,
) -> Result<Response, AppError> {
    let m = owner.method(&app, id).await?;
    let input = form.input();
    let result = async {
        let mut tx = app.pool.begin().await?;
        contacts::update_contact(&mut tx, &me.actor, owner.id, id, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&owner.base, "saved"))
    }
    .await;
    Ok(form_outcome(result, |errors| form_page(layout, owner, &m, Some(&form), errors)))
}

/// `enabled=yes|no`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct EnableForm {
    #[serde(default)]
    enabled: String,
}

async fn enable(
    app: AppState,
    me: CurrentUser,
    owner: Owner,
    id: Uuid,
    form: EnableForm,
) -> Result<Response, AppError> {
    let enabled = form.enabled == "yes";
    let mut tx = app.pool.begin().await?;
    contacts::set_contact_enabled(&mut tx, &me.actor, owner.id, id, enabled).await?;
    tx.commit().await?;
    Ok(see_other_with_notice(&owner.base, if enabled { "enabled" } else { "disabled" }))
}

async fn confirm_delete(app: AppState, layout: Layout, owner: Owner, id: Uuid) -> Result<Response, AppError> {
    let m = owner.method(&app, id).await?;
    let href = format!("{}/{id}", owner.base);
    Ok(ConfirmPage {
        layout,
        question: format!("Delete the contact method {}?", m.name()),
        consequences: vec![
            format!("Pages no longer reach {} ({}).", m.label, shown_target(m.kind, &m.target)),
            "Its undelivered notifications are dropped.".into(),
            "To stop it for a while instead, disable it: nothing is lost.".into(),
        ],
        action: format!("{href}/delete"),
        carried: vec![],
        button: format!("Delete {}", m.label),
        cancel: owner.base.clone(),
    }
    .render())
}

async fn delete(
    app: AppState,
    me: CurrentUser,
    owner: Owner,
    id: Uuid,
    confirmation: Confirmation,
) -> Result<Response, AppError> {
    if let Some(ask) = confirmation.required(&format!("{}/{id}/delete", owner.base)) {
        return Ok(ask);
    }
    let mut tx = app.pool.begin().await?;
    contacts::delete_contact(&mut tx, &me.actor, owner.id, id).await?;
    tx.commit().await?;
    Ok(see_other_with_notice(&owner.base, "deleted"))
}

/// The sender "Send a test" uses: the delivery worker's, with its attempt timeout.
pub(crate) fn test_sender(app: &AppState) -> Sender {
    Sender::new(&app.config, DeliveryPolicy::default().attempt_timeout)
}

async fn test(
    app: AppState,
    me: CurrentUser,
    layout: Layout,
    owner: Owner,
    id: Uuid,
) -> Result<Response, AppError> {
    let m = owner.method(&app, id).await?;
    let to = Destination::Contact { kind: m.kind, target: m.target.clone(), secret: m.secret.clone() };
    let result = test_sender(&app).test(&to, &me.actor.label).await;
    let mut tx = app.pool.begin().await?;
    contacts::record_test(
        &mut tx,
        &me.actor,
        "contact_method.test",
        format!("contact_method:{id}"),
        result.delivered,
        &result.text,
    )
    .await?;
    tx.commit().await?;
    let view = TestView { name: m.name(), delivered: result.delivered, text: result.text };
    list_page(&app, layout, owner, None, FieldErrors::new(), None, Some(view)).await
}

// ---------------------------------------------------------------------------------------------
// The routes: the caller's own, and an admin's for anyone.

pub(super) async fn my_list(
    State(app): State<AppState>,
    layout: Layout,
    me: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    list(app, layout, Owner::me(&me), q).await
}

pub(super) async fn my_create(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<ContactForm>,
) -> Result<Response, AppError> {
    let owner = Owner::me(&me);
    create(app, me, layout, owner, form).await
}

pub(super) async fn my_show(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    show(app, layout, Owner::me(&me), id).await
}

pub(super) async fn my_update(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<ContactForm>,
) -> Result<Response, AppError> {
    let owner = Owner::me(&me);
    update(app, me, layout, owner, id, form).await
}

pub(super) async fn my_enable(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    Form(form): Form<EnableForm>,
) -> Result<Response, AppError> {
    let owner = Owner::me(&me);
    enable(app, me, owner, id, form).await
}

pub(super) async fn my_confirm_delete(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    confirm_delete(app, layout, Owner::me(&me), id).await
}

pub(super) async fn my_delete(
    State(app): State<AppState>,
    me: CurrentUser,
    PathId(id): PathId,
    Form(c): Form<Confirmation>,
) -> Result<Response, AppError> {
    let owner = Owner::me(&me);
    delete(app, me, owner, id, c).await
}

pub(super) async fn my_test(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    let owner = Owner::me(&me);
    test(app, me, layout, owner, id).await
}

/// `{id}` (the user) and `{contact}` of an admin route.
fn contact_id(raw: &str) -> Result<Uuid, AppError> {
    parse_id(raw, "This contact method")
}

pub(super) async fn user_list(
    State(app): State<AppState>,
    layout: Layout,
    PathId(user): PathId,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, user).await?;
    list(app, layout, owner, q).await
}

pub(super) async fn user_create(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    PathId(user): PathId,
    Form(form): Form<ContactForm>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, user).await?;
    create(app, me, layout, owner, form).await
}

pub(super) async fn user_show(
    State(app): State<AppState>,
    layout: Layout,
    Path((user, contact)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, parse_id(&user, "This user")?).await?;
    show(app, layout, owner, contact_id(&contact)?).await
}

pub(super) async fn user_update(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path((user, contact)): Path<(String, String)>,
    Form(form): Form<ContactForm>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, parse_id(&user, "This user")?).await?;
    update(app, me, layout, owner, contact_id(&contact)?, form).await
}

pub(super) async fn user_enable(
    State(app): State<AppState>,
    me: CurrentUser,
    Path((user, contact)): Path<(String, String)>,
    Form(form): Form<EnableForm>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, parse_id(&user, "This user")?).await?;
    enable(app, me, owner, contact_id(&contact)?, form).await
}

pub(super) async fn user_confirm_delete(
    State(app): State<AppState>,
    layout: Layout,
    Path((user, contact)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, parse_id(&user, "This user")?).await?;
    confirm_delete(app, layout, owner, contact_id(&contact)?).await
}

pub(super) async fn user_delete(
    State(app): State<AppState>,
    me: CurrentUser,
    Path((user, contact)): Path<(String, String)>,
    Form(c): Form<Confirmation>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, parse_id(&user, "This user")?).await?;
    delete(app, me, owner, contact_id(&contact)?, c).await
}

pub(super) async fn user_test(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path((user, contact)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let owner = Owner::user(&app, parse_id(&user, "This user")?).await?;
    test(app, me, layout, owner, contact_id(&contact)?).await
}
