//! Changing the SLA policy and the team's business hours: the rules (the domain's targets, the
//! escalation bound, a working week that opens before it closes), one transaction, one audit row.

use jiff::SignedDuration;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use sqlx::PgConnection;
use twisterlab_domain::business_hours::{BusinessHours, BusinessHoursError, Weekdays};
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::{Escalation, SlaPolicy, SlaTarget};

use super::service::IncidentError;
use crate::db::audit::{self, Actor, Entry};
use crate::db::sla;
use crate::validation::FieldErrors;

/// Longest escalation delay accepted, in minutes (90 days).
pub(crate) const MAX_ESCALATION_MINUTES: i64 = 90 * 24 * 60;

/// A whole new policy: every severity's target and the business hours.
#[derive(Clone, Debug)]
pub(crate) struct PolicyChange {
    pub targets: Vec<(Severity, SlaTarget)>,
    /// Business days, each once.
    pub days: Vec<Weekday>,
    /// Business hours, to the minute, in the team's zone.
    pub opens: Time,
    pub closes: Time,
}

/// The field a target's rule is about: `response_P1`, `escalation_P1`.
pub(crate) fn target_field(part: &str, severity: Severity) -> String {
    format!("{part}_{severity}")
}

/// Every rule the change breaks, by field (`response_P1`, `escalation_P1`, `days`, `closes`).
fn check(change: &PolicyChange, zone: &TimeZone) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for (severity, target) in &change.targets {
        if let Escalation::After(d) = target.escalation
            && d > SignedDuration::from_mins(MAX_ESCALATION_MINUTES)
        {
            errors.push(
                target_field("escalation", *severity),
                format!("Escalate within {MAX_ESCALATION_MINUTES} minutes (90 days)."),
            );
            continue;
        }
        if let Err(e) = target.validate(*severity) {
            errors.push(target_field(e.field().as_str(), *severity), format!("{e}."));
        }
    }
    let days = change.days.iter().fold(Weekdays::NONE, |set, day| set.with(*day));
    match BusinessHours::new(zone.clone(), days, change.opens, change.closes) {
        Ok(_) => {}
        Err(e @ BusinessHoursError::OpensAfterClosing { .. }) => {
            errors.push("closes", format!("Business hours: {e}."))
        }
        Err(e @ BusinessHoursError::NoDays) => errors.push("days", format!("Business hours: {e}.")),
    }
    errors
}

/// Saves every target and the business hours in the caller's transaction, with one audit row
/// (`sla.update`) holding the policy before and after. Incidents already declared keep their
/// deadlines.
pub(crate) async fn save_policy(
    tx: &mut PgConnection,
    actor: &Actor,
    zone: &TimeZone,
    change: &PolicyChange,
) -> Result<(), IncidentError> {
    let errors = check(change, zone);
    if !errors.is_empty() {
        return Err(IncidentError::Invalid(errors.into_vec()));
    }
    let before = snapshot(&sla::policy(&mut *tx).await?, &sla::business_hours(&mut *tx, zone).await?);
    for (severity, target) in &change.targets {
        sla::save_target(&mut *tx, *severity, target).await?;
    }
    let mut days: Vec<i16> = change.days.iter().map(|d| i16::from(d.to_monday_one_offset())).collect();
    days.sort_unstable();
    days.dedup();
    sla::save_business_hours(&mut *tx, &days, change.opens, change.closes).await?;
    let after = snapshot(&sla::policy(&mut *tx).await?, &sla::business_hours(&mut *tx, zone).await?);
    audit::record(
        &mut *tx,
        actor,
        Entry { action: "sla.update", target: "sla_policy".into(), before: Some(before), after: Some(after) },
    )
    .await?;
    Ok(())
}

/// "09:00".
pub(crate) fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// The policy and hours as the audit log keeps them.
fn snapshot(policy: &SlaPolicy, hours: &BusinessHours) -> Value {
    let mut out = serde_json::Map::new();
    for (s, t) in policy.targets() {
        out.insert(
            s.as_str().into(),
            json!({"response_minutes": t.response.as_secs() / 60, "escalation": t.escalation.to_string()}),
        );
    }
    let days: Vec<i8> = hours.days().iter().map(|d| d.to_monday_one_offset()).collect();
    out.insert(
        "business_hours".into(),
        json!({"days": days, "opens": hhmm(hours.open()), "closes": hhmm(hours.close())}),
    );
    Value::Object(out)
}
