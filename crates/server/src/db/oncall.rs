//! The on-call tables (`oncall_rotations`, `oncall_participants`, `oncall_overrides`) and their
//! conversion into the domain's rotations. Dates, times of day and instants are `jiff` here;
//! the `time` types of the rows stay inside this file.

use jiff::civil::{Date, Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::rotation::{self, OnCallNow, Override, Rotation, Schedule};
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// `NOTIFY` channel announcing a rotation or override change to every process.
pub(crate) const NOTIFY_CHANNEL: &str = "twisterlab_oncall";

/// The two rotations of the team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RotationKind {
    /// Primary and secondary on call.
    Responders,
    /// The manager escalations go to.
    Managers,
}

impl RotationKind {
    pub(crate) const ALL: [RotationKind; 2] = [RotationKind::Responders, RotationKind::Managers];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Responders => "responders",
            Self::Managers => "managers",
        }
    }

    /// "Responders", "Managers".
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::Responders => "Responders",
            Self::Managers => "Managers",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A person as rotations show them (one way on every page: name, e-mail, flagged when
/// deactivated).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Person {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) email: String,
    /// Deactivated users stay in a rotation until an admin removes them; pages flag them.
    pub(crate) active: bool,
}

/// A rotation's settings as stored.
#[derive(Clone, Debug)]
pub(crate) struct RotationRow {
    pub(crate) kind: RotationKind,
    /// IANA zone the hand-off time is read in.
    pub(crate) time_zone: String,
    pub(crate) starts_on: Date,
    /// ISO weekday, 1 = Monday.
    pub(crate) handoff_weekday: i16,
    /// Wall-clock time in `time_zone`.
    pub(crate) handoff_time: Time,
    /// Calendar days per shift.
    pub(crate) length_days: i16,
    /// In hand-off order.
    pub(crate) participants: Vec<Person>,
}

impl RotationRow {
    /// The domain rotation, or why the stored settings no longer make one (an unknown zone).
    pub(crate) fn to_domain(&self) -> Result<Rotation<Person>, String> {
        let zone = jiff::tz::TimeZone::get(&self.time_zone)
            .map_err(|_| format!("unknown time zone {:?}", self.time_zone))?;
        let weekday = Weekday::from_monday_one_offset(i8::try_from(self.handoff_weekday).unwrap_or(1))
            .map_err(|e| e.to_string())?;
        let length = u16::try_from(self.length_days).unwrap_or(0);
        let schedule = Schedule::new(zone, self.starts_on, weekday, self.handoff_time, length)
            .map_err(|e| e.to_string())?;
        Rotation::new(self.participants.clone(), schedule).map_err(|e| e.to_string())
    }
}

/// A stored date as `jiff`'s.
fn jiff_date(d: time::Date) -> Result<Date, sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(format!("date {d} out of range: {e}").into());
    Date::new(
        i16::try_from(d.year()).map_err(|e| decode(e.to_string()))?,
        u8::from(d.month()) as i8,
        d.day() as i8,
    )
    .map_err(|e| decode(e.to_string()))
}

/// A stored time of day as `jiff`'s (to the second).
fn jiff_time(t: time::Time) -> Result<Time, sqlx::Error> {
    Time::new(t.hour() as i8, t.minute() as i8, t.second() as i8, 0)
        .map_err(|e| sqlx::Error::Decode(format!("time {t} out of range: {e}").into()))
}

/// A date to bind.
fn time_date(d: Date) -> Result<time::Date, sqlx::Error> {
    let encode = |e: String| sqlx::Error::Encode(format!("date {d} out of range: {e}").into());
    let month = time::Month::try_from(d.month() as u8).map_err(|e| encode(e.to_string()))?;
    time::Date::from_calendar_date(i32::from(d.year()), month, d.day() as u8)
        .map_err(|e| encode(e.to_string()))
}

/// A time of day to bind (to the second).
fn time_time(t: Time) -> Result<time::Time, sqlx::Error> {
    time::Time::from_hms(t.hour() as u8, t.minute() as u8, t.second() as u8)
        .map_err(|e| sqlx::Error::Encode(format!("time {t} out of range: {e}").into()))
}

/// An override as stored.
#[derive(Clone, Debug)]
pub(crate) struct OverrideRow {
    pub(crate) id: Uuid,
    pub(crate) kind: RotationKind,
    pub(crate) who: Person,
    pub(crate) starts_at: Timestamp,
    /// Exclusive.
    pub(crate) ends_at: Timestamp,
    pub(crate) note: String,
}

impl OverrideRow {
    pub(crate) fn to_domain(&self) -> Option<Override<Person>> {
        Override::new(self.starts_at, self.ends_at, self.who.clone()).ok()
    }
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    kind: String,
    time_zone: String,
    starts_on: time::Date,
    handoff_weekday: i16,
    handoff_time: time::Time,
    length_days: i16,
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    kind: String,
    id: Uuid,
    display_name: String,
    email: String,
    active: bool,
}

fn decode_kind(s: &str) -> Result<RotationKind, sqlx::Error> {
    RotationKind::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("unknown rotation kind {s:?}").into()))
}

/// Both rotations that exist, responders first, with their participants.
pub(crate) async fn rotations(db: &mut PgConnection) -> Result<Vec<RotationRow>, sqlx::Error> {
    let settings: Vec<SettingsRow> = sqlx::query_as(
        "select kind, time_zone, starts_on, handoff_weekday, handoff_time, length_days
           from oncall_rotations order by kind desc",
    )
    .fetch_all(&mut *db)
    .await?;
    let people: Vec<PersonRow> = sqlx::query_as(
        "select p.kind, u.id, u.display_name, u.email, u.active
           from oncall_participants p join users u on u.id = p.user_id
          order by p.kind, p.position",
    )
    .fetch_all(&mut *db)
    .await?;
    settings
        .into_iter()
        .map(|s| {
            let participants = people
                .iter()
                .filter(|p| p.kind == s.kind)
                .map(|p| Person {
                    id: p.id,
                    name: p.display_name.clone(),
                    email: p.email.clone(),
                    active: p.active,
                })
                .collect();
            Ok(RotationRow {
                kind: decode_kind(&s.kind)?,
                time_zone: s.time_zone,
                starts_on: jiff_date(s.starts_on)?,
                handoff_weekday: s.handoff_weekday,
                handoff_time: jiff_time(s.handoff_time)?,
                length_days: s.length_days,
                participants,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct OverrideSqlRow {
    id: Uuid,
    kind: String,
    user_id: Uuid,
    display_name: String,
    email: String,
    active: bool,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    note: String,
}

impl TryFrom<OverrideSqlRow> for OverrideRow {
    type Error = sqlx::Error;
    fn try_from(r: OverrideSqlRow) -> Result<Self, Self::Error> {
        Ok(OverrideRow {
            id: r.id,
            kind: decode_kind(&r.kind)?,
            who: Person { id: r.user_id, name: r.display_name, email: r.email, active: r.active },
            starts_at: to_jiff(r.starts_at),
            ends_at: to_jiff(r.ends_at),
            note: r.note,
        })
    }
}

/// Overrides still running or to come after `after`, oldest created first (later ones win).
pub(crate) async fn overrides(
    db: impl PgExecutor<'_>,
    after: Timestamp,
) -> Result<Vec<OverrideRow>, sqlx::Error> {
    let rows: Vec<OverrideSqlRow> = sqlx::query_as(
        "select o.id, o.kind, o.user_id, u.display_name, u.email, u.active, o.starts_at, o.ends_at, o.note
           from oncall_overrides o join users u on u.id = o.user_id
          where o.ends_at > $1
          order by o.created_at, o.id
          limit 1000",
    )
    .bind(from_jiff(after))
    .fetch_all(db)
    .await?;
    rows.into_iter().map(OverrideRow::try_from).collect()
}

/// A rotation's new settings (validated by the caller).
pub(crate) struct RotationSettings<'a> {
    pub(crate) time_zone: &'a str,
    pub(crate) starts_on: Date,
    /// ISO weekday, 1 = Monday.
    pub(crate) handoff_weekday: i16,
    pub(crate) handoff_time: Time,
    pub(crate) length_days: i16,
    /// User ids in hand-off order.
    pub(crate) participants: &'a [Uuid],
}

/// Creates or replaces a rotation and its participants.
pub(crate) async fn save_rotation(
    tx: &mut PgConnection,
    kind: RotationKind,
    s: &RotationSettings<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into oncall_rotations (kind, time_zone, starts_on, handoff_weekday, handoff_time, length_days)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (kind) do update set time_zone = excluded.time_zone, starts_on = excluded.starts_on,
             handoff_weekday = excluded.handoff_weekday, handoff_time = excluded.handoff_time,
             length_days = excluded.length_days, updated_at = now()",
    )
    .bind(kind.as_str())
    .bind(s.time_zone)
    .bind(time_date(s.starts_on)?)
    .bind(s.handoff_weekday)
    .bind(time_time(s.handoff_time)?)
    .bind(s.length_days)
    .execute(&mut *tx)
    .await?;
    sqlx::query("delete from oncall_participants where kind = $1")
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?;
    let positions: Vec<i16> =
        (0..s.participants.len()).map(|i| i16::try_from(i).unwrap_or(i16::MAX)).collect();
    sqlx::query(
        "insert into oncall_participants (kind, position, user_id)
         select $1, p, u from unnest($2::smallint[], $3::uuid[]) as t(p, u)",
    )
    .bind(kind.as_str())
    .bind(&positions)
    .bind(s.participants)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Adds an override; returns its id.
pub(crate) async fn insert_override(
    db: impl PgExecutor<'_>,
    kind: RotationKind,
    user_id: Uuid,
    starts_at: Timestamp,
    ends_at: Timestamp,
    note: &str,
    created_by: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into oncall_overrides (id, kind, user_id, starts_at, ends_at, note, created_by)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(kind.as_str())
    .bind(user_id)
    .bind(from_jiff(starts_at))
    .bind(from_jiff(ends_at))
    .bind(note)
    .bind(created_by)
    .execute(db)
    .await?;
    Ok(id)
}

/// Removes an override; returns it as it was, or `None` when there was none.
pub(crate) async fn delete_override(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<OverrideRow>, sqlx::Error> {
    let row: Option<OverrideSqlRow> = sqlx::query_as(
        "with gone as (delete from oncall_overrides where id = $1 returning *)
         select o.id, o.kind, o.user_id, u.display_name, u.email, u.active, o.starts_at, o.ends_at, o.note
           from gone o join users u on u.id = o.user_id",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(OverrideRow::try_from).transpose()
}

/// Locks the stored rotation of `kind` for an edit; returns whether it exists.
pub(crate) async fn lock_rotation(db: impl PgExecutor<'_>, kind: RotationKind) -> Result<bool, sqlx::Error> {
    let found: Option<String> =
        sqlx::query_scalar("select kind from oncall_rotations where kind = $1 for update")
            .bind(kind.as_str())
            .fetch_optional(db)
            .await?;
    Ok(found.is_some())
}

/// Tells every process (its header cache) that a rotation or override changed; delivered at
/// commit.
pub(crate) async fn notify_changed(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(NOTIFY_CHANNEL).execute(db).await?;
    Ok(())
}

/// A rotation in domain form with the overrides that concern it.
#[derive(Clone, Debug)]
pub(crate) struct Covered {
    pub(crate) row: RotationRow,
    pub(crate) rotation: Rotation<Person>,
    pub(crate) overrides: Vec<Override<Person>>,
    pub(crate) override_rows: Vec<OverrideRow>,
}

/// Everything needed to say who is on call, read in one go.
#[derive(Clone, Debug, Default)]
pub(crate) struct Team {
    pub(crate) responders: Option<Covered>,
    pub(crate) managers: Option<Covered>,
}

impl Team {
    /// Who is on call at `t`.
    pub(crate) fn at(&self, t: Timestamp) -> OnCallNow<Person> {
        fn covered(c: &Option<Covered>) -> Option<rotation::Covered<'_, Person>> {
            c.as_ref().map(|c| (&c.rotation, c.overrides.as_slice()))
        }
        rotation::on_call_now(covered(&self.responders), covered(&self.managers), t)
    }

    pub(crate) fn get(&self, kind: RotationKind) -> Option<&Covered> {
        match kind {
            RotationKind::Responders => self.responders.as_ref(),
            RotationKind::Managers => self.managers.as_ref(),
        }
    }
}

/// Reads both rotations and the overrides that still matter after `now`.
pub(crate) async fn team(db: &mut PgConnection, now: Timestamp) -> Result<Team, sqlx::Error> {
    let rows = rotations(&mut *db).await?;
    let since = now.checked_sub(SignedDuration::from_hours(24)).unwrap_or(now);
    let overrides = overrides(&mut *db, since).await?;
    let mut team = Team::default();
    for row in rows {
        let rotation = match row.to_domain() {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(
                    rotation = row.kind.as_str(),
                    why,
                    "the stored rotation is unusable; nobody is on call in it"
                );
                continue;
            }
        };
        let override_rows: Vec<OverrideRow> =
            overrides.iter().filter(|o| o.kind == row.kind).cloned().collect();
        let covered = Covered {
            overrides: override_rows.iter().filter_map(OverrideRow::to_domain).collect(),
            override_rows,
            rotation,
            row,
        };
        match covered.row.kind {
            RotationKind::Responders => team.responders = Some(covered),
            RotationKind::Managers => team.managers = Some(covered),
        }
    }
    Ok(team)
}

/// Who is on call now, read inside the caller's transaction (hooks and the deadline worker).
pub(crate) async fn on_call_now(db: &mut PgConnection) -> Result<OnCallNow<Person>, sqlx::Error> {
    let now = Timestamp::now();
    Ok(team(db, now).await?.at(now))
}
