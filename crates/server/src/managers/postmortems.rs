//! `/incidents/{number}/postmortem`: the postmortem of a resolved incident (draft → in review →
//! published) with its timeline excerpt and action items, and `/postmortems/actions`, the
//! overdue action items for managers. Each action is a use case of `service` in one
//! transaction, then a redirect or the page again with its field errors.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use jiff::Timestamp;
use serde::Deserialize;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::service::{self, ActionInput, PostmortemInput, StartingInput};
use crate::auth::CurrentUser;
use crate::db::incidents::{self as incidents_store, TimelineFilter};
use crate::db::postmortems::{self as pm, Action, State as PmState, Texts};
use crate::incidents::view::{kind_label, precise};
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{
    Choice, NoticeQuery, Notices, PathNumber, parse_id, parse_number, see_other_with_notice,
};
use crate::web::page::{Layout, render_page};

const NOTICES: Notices = &[
    ("started", "Draft started."),
    ("saved", "Saved."),
    ("action-added", "Action item added."),
    ("starting-added", "The kept prevention steps are now action items."),
    ("action-done", "Action item done."),
    ("submitted", "Sent to review."),
    ("published", "Published. A public incident's summary is now on the status page."),
];

/// A timeline event to pick for the excerpt.
pub(crate) struct EventChoice {
    pub id: Uuid,
    pub text: String,
    pub picked: bool,
}

/// A runbook's prevention step offered as a starting action item.
pub(crate) struct Offer {
    pub title: String,
    /// Checked: the commander keeps it (every offer starts kept).
    pub kept: bool,
}

/// The prevention steps one runbook offers.
pub(crate) struct OfferGroup {
    pub runbook: String,
    /// Why it is offered: it ran on the incident, or it was picked.
    pub why: &'static str,
    pub offers: Vec<Offer>,
}

/// The steps of a runbook's prevention sections, in order: follow-up work that keeps the
/// incident from happening again, hence a postmortem's natural starting action items.
pub(crate) fn prevention_steps(runbook: &twisterlab_domain::runbook::Runbook) -> Vec<String> {
    runbook
        .sections
        .iter()
        .filter(|s| s.kind == twisterlab_domain::runbook::SectionKind::Prevention)
        .flat_map(|s| s.steps.iter().map(|step| step.title.as_str().to_owned()))
        .collect()
}

/// What the page offers from the runbooks run on the incident and the one picked (`pick`, a
/// slug), without steps that already are action items. `kept` is what a refused form kept
/// (`None`: everything).
async fn offers(
    conn: &mut sqlx::PgConnection,
    incident_id: Uuid,
    pick: &str,
    actions: &[Action],
    kept: Option<&[String]>,
) -> Result<Vec<OfferGroup>, AppError> {
    let mut versions = Vec::new();
    for run in crate::db::runbook_runs::of_incident(&mut *conn, incident_id).await? {
        if let Some(v) = crate::db::runbooks::find(&mut *conn, &run.slug, run.revision).await? {
            versions.push((v.runbook, "ran on this incident"));
        }
    }
    if !pick.is_empty()
        && let Some(v) = crate::db::runbooks::latest(&mut *conn, pick).await?
    {
        versions.push((v.runbook, "picked"));
    }
    let mut groups: Vec<OfferGroup> = Vec::new();
    let mut seen_slugs: Vec<String> = Vec::new();
    let mut seen_titles: Vec<String> = actions.iter().map(|a| a.title.clone()).collect();
    for (runbook, why) in versions {
        if seen_slugs.iter().any(|s| s == runbook.slug.as_str()) {
            continue;
        }
        seen_slugs.push(runbook.slug.as_str().to_owned());
        let mut group = OfferGroup { runbook: runbook.title.as_str().to_owned(), why, offers: vec![] };
        for title in prevention_steps(&runbook) {
            if seen_titles.contains(&title) {
                continue;
            }
            let is_kept = kept.is_none_or(|k| k.contains(&title));
            seen_titles.push(title.clone());
            group.offers.push(Offer { title, kept: is_kept });
        }
        groups.push(group);
    }
    Ok(groups)
}

/// An action item as the pages show it.
pub(crate) struct ActionView {
    pub id: Uuid,
    pub title: String,
    pub owner: String,
    pub due_on: String,
    pub done: bool,
    pub overdue: bool,
    pub incident: String,
}

impl ActionView {
    pub(crate) fn of(a: &Action, today: jiff::civil::Date) -> Self {
        Self {
            id: a.id,
            title: a.title.clone(),
            owner: a.owner.clone(),
            due_on: a.due_on.to_string(),
            done: a.done_at.is_some(),
            overdue: a.done_at.is_none() && a.due_on < today,
            incident: format!("INC-{}", a.incident_number),
        }
    }
}

#[derive(Template)]
#[template(path = "managers/postmortem.html")]
pub(crate) struct PostmortemPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub number: String,
    pub path: String,
    pub title: String,
    pub severity: String,
    pub resolved: bool,
    pub required: bool,
    pub private: bool,
    /// `None`: not started.
    pub state: Option<&'static str>,
    pub editable: bool,
    pub texts: Texts,
    pub events: Vec<EventChoice>,
    pub actions: Vec<ActionView>,
    pub people: Vec<Choice>,
    pub action_form: ActionForm,
    /// The runbooks whose prevention list can be offered (`runbook` of the query).
    pub runbooks: Vec<Choice>,
    pub offer_groups: Vec<OfferGroup>,
    /// Whether any group offers a step.
    pub has_offers: bool,
    pub starting_form: StartingForm,
    pub starting_people: Vec<Choice>,
    pub can_command: bool,
    pub can_respond: bool,
    pub can_publish: bool,
    pub is_draft: bool,
    pub notice: Option<&'static str>,
}

/// What the page shows besides the stored postmortem: the text a refused form kept, the action
/// item form, field errors and a notice.
#[derive(Default)]
struct Shown {
    typed: Option<(Texts, Vec<Uuid>)>,
    action_form: ActionForm,
    /// The starting items' form as sent (`None`: not sent; every offer kept).
    starting: Option<StartingForm>,
    /// The runbook picked to offer its prevention list (a slug; blank for none).
    pick: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

async fn page(
    app: &AppState,
    layout: Layout,
    user: &CurrentUser,
    number: twisterlab_domain::incident::IncidentNumber,
    shown: Shown,
) -> Result<Response, AppError> {
    let Shown { typed, action_form, starting, pick, errors, notice } = shown;
    let mut conn = app.pool.acquire().await?;
    let scope = crate::incidents::service::ReadScope::of(user);
    let incident = crate::incidents::service::load_readable(&mut conn, number, scope).await?;
    let postmortem = pm::of_incident(&mut conn, incident.id).await?;
    let events = incidents_store::timeline(&mut *conn, incident.id, &TimelineFilter::default()).await?;
    let actions = match &postmortem {
        Some(p) => pm::actions(&mut *conn, p.id).await?,
        None => vec![],
    };
    let people = crate::db::users::list(&mut *conn).await?;
    let editable = matches!(postmortem.as_ref().map(|p| p.state), Some(PmState::Draft | PmState::InReview));
    let pick = starting.as_ref().map_or(pick, |f| f.runbook.trim().to_owned());
    let (offer_groups, runbooks) = if editable && user.role.allows(Role::Commander) {
        let kept = starting.as_ref().map(|f| f.prevention.as_slice());
        let groups = offers(&mut conn, incident.id, &pick, &actions, kept).await?;
        let mut choices = vec![Choice::new("", "choose a runbook", pick.is_empty())];
        choices.extend(crate::db::runbooks::latest_all(&mut *conn).await?.iter().map(|v| {
            let slug = v.runbook.slug.as_str();
            Choice::new(slug, v.runbook.title.as_str(), slug == pick)
        }));
        (groups, choices)
    } else {
        (vec![], vec![])
    };
    drop(conn);
    let starting_form = starting.unwrap_or_else(|| StartingForm { runbook: pick, ..StartingForm::default() });
    let mut starting_people =
        vec![Choice::new("", "choose the owner", starting_form.prevention_owner.is_empty())];
    starting_people.extend(people.iter().filter(|u| u.active).map(|u| {
        Choice::new(
            u.id.to_string(),
            format!("{} ({})", u.display_name, u.email),
            u.id.to_string() == starting_form.prevention_owner,
        )
    }));
    let zone = &app.config.timezone;
    let today = zone.to_datetime(Timestamp::now()).date();
    let (texts, picked) = match (typed, &postmortem) {
        (Some(t), _) => t,
        (None, Some(p)) => (p.texts.clone(), p.excerpt.clone()),
        (None, None) => (Texts::default(), vec![]),
    };
    let state = postmortem.as_ref().map(|p| p.state);
    let mut people_choices = vec![Choice::new("", "choose the owner", action_form.owner.is_empty())];
    people_choices.extend(people.iter().filter(|u| u.active).map(|u| {
        Choice::new(
            u.id.to_string(),
            format!("{} ({})", u.display_name, u.email),
            u.id.to_string() == action_form.owner,
        )
    }));
    Ok(render_page(&PostmortemPage {
        number: number.to_string(),
        path: format!("/incidents/{}/postmortem", number.get()),
        title: incident.title.clone(),
        severity: incident.severity.as_str().to_owned(),
        resolved: incident.status == twisterlab_domain::incident::IncidentStatus::Resolved,
        required: service::postmortem_required(incident.severity),
        private: incident.private,
        state: state.map(PmState::label),
        editable,
        texts,
        events: events
            .iter()
            .map(|e| EventChoice {
                id: e.id,
                text: format!(
                    "{} · {} · {}{}",
                    precise(e.at, zone),
                    kind_label(e.kind),
                    e.actor_label,
                    e.body
                        .as_deref()
                        .map(|b| format!(": {}", b.chars().take(120).collect::<String>()))
                        .unwrap_or_default()
                ),
                picked: picked.contains(&e.id),
            })
            .collect(),
        actions: actions.iter().map(|a| ActionView::of(a, today)).collect(),
        people: people_choices,
        action_form,
        has_offers: offer_groups.iter().any(|g| !g.offers.is_empty()),
        offer_groups,
        runbooks,
        starting_form,
        starting_people,
        can_command: user.role.allows(Role::Commander),
        can_respond: user.role.allows(Role::Responder),
        can_publish: user.role.allows(Role::Manager) && state == Some(PmState::InReview),
        is_draft: state == Some(PmState::Draft),
        notice,
        errors,
        layout,
    }))
}

/// The runbook picked to offer its prevention list.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PickQuery {
    pub runbook: String,
}

/// `GET /incidents/{number}/postmortem` (`?runbook=<slug>` offers that runbook's prevention
/// list besides the lists of the runbooks run on the incident).
pub(crate) async fn show_postmortem(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Query(notice): Query<NoticeQuery>,
    Query(pick): Query<PickQuery>,
) -> Result<Response, AppError> {
    let shown =
        Shown { notice: notice.text(NOTICES), pick: pick.runbook.trim().to_owned(), ..Shown::default() };
    page(&app, layout, &user, number, shown).await
}

fn path_of(number: twisterlab_domain::incident::IncidentNumber) -> String {
    format!("/incidents/{}/postmortem", number.get())
}

/// `POST /incidents/{number}/postmortem`: starts the draft.
pub(crate) async fn start_postmortem(
    State(app): State<AppState>,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::start_postmortem(&mut tx, &user.actor, number).await?;
    tx.commit().await?;
    Ok(see_other_with_notice(&path_of(number), "started"))
}

/// The postmortem form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PostmortemForm {
    pub summary: String,
    pub impact: String,
    pub root_cause: String,
    pub contributing_factors: String,
    pub went_well: String,
    pub public_summary: String,
    /// Picked timeline events.
    pub event: Vec<String>,
}

impl PostmortemForm {
    fn texts(&self) -> Texts {
        Texts {
            summary: self.summary.clone(),
            impact: self.impact.clone(),
            root_cause: self.root_cause.clone(),
            contributing_factors: self.contributing_factors.clone(),
            went_well: self.went_well.clone(),
            public_summary: self.public_summary.clone(),
        }
    }

    fn excerpt(&self) -> Vec<Uuid> {
        self.event.iter().filter_map(|e| e.trim().parse().ok()).collect()
    }
}

/// `POST /incidents/{number}/postmortem/save`.
pub(crate) async fn save_postmortem(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<PostmortemForm>,
) -> Result<Response, AppError> {
    let input = PostmortemInput { texts: form.texts(), excerpt: form.excerpt() };
    let result: Result<Response, AppError> = async {
        let mut tx = app.pool.begin().await?;
        service::save_postmortem(&mut tx, &user.actor, number, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&path_of(number), "saved"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let typed = Some((input.texts, input.excerpt));
            let shown = Shown { typed, errors: errors.into(), ..Shown::default() };
            let mut r = page(&app, layout, &user, number, shown).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        other => other,
    }
}

/// The action item form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ActionForm {
    pub title: String,
    pub owner: String,
    pub due_on: String,
}

/// `POST /incidents/{number}/postmortem/actions`.
pub(crate) async fn add_action(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<ActionForm>,
) -> Result<Response, AppError> {
    let input =
        ActionInput { title: form.title.clone(), owner: form.owner.clone(), due_on: form.due_on.clone() };
    let result: Result<Response, AppError> = async {
        let mut tx = app.pool.begin().await?;
        service::add_action(&mut tx, &user.actor, number, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&path_of(number), "action-added"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let shown = Shown { action_form: form, errors: errors.into(), ..Shown::default() };
            let mut r = page(&app, layout, &user, number, shown).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        other => other,
    }
}

/// The starting items' form: the prevention steps kept, one owner and one due date.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StartingForm {
    /// The titles of the kept steps (checked boxes).
    pub prevention: Vec<String>,
    pub prevention_owner: String,
    pub prevention_due_on: String,
    /// The runbook that was picked, to offer the same list again after an error.
    pub runbook: String,
}

/// `POST /incidents/{number}/postmortem/actions/starting`: the kept prevention steps become
/// action items, all or none.
pub(crate) async fn add_starting_actions(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Form(form): Form<StartingForm>,
) -> Result<Response, AppError> {
    let input = StartingInput {
        titles: form.prevention.clone(),
        owner: form.prevention_owner.clone(),
        due_on: form.prevention_due_on.clone(),
    };
    let result: Result<Response, AppError> = async {
        let mut tx = app.pool.begin().await?;
        service::add_starting_actions(&mut tx, &user.actor, number, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&path_of(number), "starting-added"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let shown = Shown { starting: Some(form), errors: errors.into(), ..Shown::default() };
            let mut r = page(&app, layout, &user, number, shown).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        other => other,
    }
}

/// `POST /incidents/{number}/postmortem/actions/{action}/done`.
pub(crate) async fn complete_action(
    State(app): State<AppState>,
    user: CurrentUser,
    Path((number, action)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let number = parse_number(&number)?;
    let action = parse_id(&action, "This action item")?;
    let mut tx = app.pool.begin().await?;
    service::complete_action(&mut tx, &user.actor, number, action).await?;
    tx.commit().await?;
    Ok(see_other_with_notice(&path_of(number), "action-done"))
}

/// `POST /incidents/{number}/postmortem/submit`.
pub(crate) async fn submit_postmortem(
    State(app): State<AppState>,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::submit_postmortem(&mut tx, &user.actor, number).await?;
    tx.commit().await?;
    Ok(see_other_with_notice(&path_of(number), "submitted"))
}

/// `POST /incidents/{number}/postmortem/publish`.
pub(crate) async fn publish_postmortem(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Result<Response, AppError> {
    let result: Result<Response, AppError> = async {
        let mut tx = app.pool.begin().await?;
        service::publish_postmortem(&mut tx, &user.actor, number).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&path_of(number), "published"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let shown = Shown { errors: errors.into(), ..Shown::default() };
            let mut r = page(&app, layout, &user, number, shown).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        other => other,
    }
}

#[derive(Template)]
#[template(path = "managers/overdue.html")]
pub(crate) struct OverduePage {
    pub layout: Layout,
    pub actions: Vec<ActionView>,
    pub time_zone: String,
}

/// `GET /postmortems/actions`: every overdue action item.
pub(crate) async fn overdue_actions(
    State(app): State<AppState>,
    layout: Layout,
) -> Result<Response, AppError> {
    let today = app.config.timezone.to_datetime(Timestamp::now()).date();
    let actions = pm::overdue(&app.pool, today, None).await?;
    Ok(render_page(&OverduePage {
        layout,
        actions: actions.iter().map(|a| ActionView::of(a, today)).collect(),
        time_zone: app.config.timezone_name.clone(),
    }))
}
