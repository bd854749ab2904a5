//! The SLA policy and business hours: the `sla_policy` and `business_hours` tables.

use jiff::SignedDuration;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use sqlx::PgExecutor;
use twisterlab_domain::business_hours::{BusinessHours, Weekdays};
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::{Escalation, SlaPolicy, SlaTarget};

#[derive(sqlx::FromRow)]
struct PolicyRow {
    severity: String,
    response_seconds: i32,
    escalation_kind: String,
    escalation_seconds: Option<i32>,
}

/// The stored policy; rows that do not validate fall back to the reference values (and say so).
pub(crate) async fn policy(db: impl PgExecutor<'_>) -> Result<SlaPolicy, sqlx::Error> {
    let rows: Vec<PolicyRow> = sqlx::query_as(
        "select severity, response_seconds, escalation_kind, escalation_seconds from sla_policy",
    )
    .fetch_all(db)
    .await?;
    let mut policy = SlaPolicy::reference();
    for row in rows {
        let Ok(severity) = row.severity.parse::<Severity>() else { continue };
        let escalation = match (row.escalation_kind.as_str(), row.escalation_seconds) {
            ("immediately", _) => Escalation::Immediately,
            ("next_business_day", _) => Escalation::NextBusinessDay,
            ("after", Some(s)) => Escalation::After(SignedDuration::from_secs(i64::from(s))),
            _ => continue,
        };
        let target =
            SlaTarget { response: SignedDuration::from_secs(i64::from(row.response_seconds)), escalation };
        match policy.with_target(severity, target) {
            Ok(p) => policy = p,
            Err(e) => {
                tracing::error!(error = %e, "stored SLA policy row is invalid; using the reference value")
            }
        }
    }
    Ok(policy)
}

/// Stores one severity's target.
pub(crate) async fn save_target(
    db: impl PgExecutor<'_>,
    severity: Severity,
    target: &SlaTarget,
) -> Result<(), sqlx::Error> {
    let (kind, seconds) = match target.escalation {
        Escalation::Immediately => ("immediately", None),
        Escalation::NextBusinessDay => ("next_business_day", None),
        Escalation::After(d) => ("after", Some(i32::try_from(d.as_secs()).unwrap_or(i32::MAX))),
    };
    sqlx::query(
        "update sla_policy set response_seconds = $2, escalation_kind = $3, escalation_seconds = $4, updated_at = now() where severity = $1",
    )
    .bind(severity.as_str())
    .bind(i32::try_from(target.response.as_secs()).unwrap_or(i32::MAX))
    .bind(kind)
    .bind(seconds)
    .execute(db)
    .await?;
    Ok(())
}

/// The team's business hours in `zone`.
pub(crate) async fn business_hours(
    db: impl PgExecutor<'_>,
    zone: &TimeZone,
) -> Result<BusinessHours, sqlx::Error> {
    let row: Option<(Vec<i16>, time::Time, time::Time)> =
        sqlx::query_as("select days, opens_at, closes_at from business_hours where id")
            .fetch_optional(db)
            .await?;
    let Some((days, opens, closes)) = row else { return Ok(BusinessHours::standard(zone.clone())) };
    let mut set = Weekdays::NONE;
    for d in days {
        if let Ok(day) = Weekday::from_monday_one_offset(i8::try_from(d).unwrap_or(0)) {
            set = set.with(day);
        }
    }
    let civil = |t: time::Time| {
        Time::new(t.hour() as i8, t.minute() as i8, 0, 0).unwrap_or(BusinessHours::DEFAULT_OPEN)
    };
    Ok(BusinessHours::new(zone.clone(), set, civil(opens), civil(closes)).unwrap_or_else(|e| {
        tracing::error!(error = %e, "stored business hours are invalid; using Monday–Friday 09:00–17:00");
        BusinessHours::standard(zone.clone())
    }))
}

/// Stores business hours (days as ISO numbers, 1 = Monday; times to the minute).
pub(crate) async fn save_business_hours(
    db: impl PgExecutor<'_>,
    days: &[i16],
    opens: Time,
    closes: Time,
) -> Result<(), sqlx::Error> {
    let column = |t: Time| {
        time::Time::from_hms(t.hour().unsigned_abs(), t.minute().unsigned_abs(), 0)
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))
    };
    sqlx::query("update business_hours set days = $1, opens_at = $2, closes_at = $3 where id")
        .bind(days)
        .bind(column(opens)?)
        .bind(column(closes)?)
        .execute(db)
        .await?;
    Ok(())
}
