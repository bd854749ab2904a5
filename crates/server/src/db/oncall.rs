//! The on-call tables (`oncall_rotations`, `oncall_participants`, `oncall_overrides`) and their
//! conversion into the domain's rotations.

use jiff::Timestamp;
use jiff::civil::Weekday;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::rotation::{self, OnCallNow, Override, Rotation, Schedule};
use uuid::Uuid;

use crate::clock::to_jiff;

/// The two rotations of the team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RotationKind {
    /// Primary and secondary on call.
    Responders,
    /// The manager escalations go to.
    Managers,
}

impl RotationKind {
    pub const ALL: [RotationKind; 2] = [RotationKind::Responders, RotationKind::Managers];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Responders => "responders",
            Self::Managers => "managers",
        }
    }

    /// "Responders", "Managers".
    pub const fn label(self) -> &'static str {
        match self {
            Self::Responders => "Responders",
            Self::Managers => "Managers",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A person as rotations show them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// Deactivated users stay in a rotation until an admin removes them; pages flag them.
    pub active: bool,
}

/// A rotation's settings as stored.
#[derive(Clone, Debug)]
pub struct RotationRow {
    pub kind: RotationKind,
    pub time_zone: String,
    pub starts_on: time::Date,
    /// ISO weekday, 1 = Monday.
    pub handoff_weekday: i16,
    pub handoff_time: time::Time,
    pub length_days: i16,
    pub updated_at: OffsetDateTime,
    /// In hand-off order.
    pub participants: Vec<Person>,
}

impl RotationRow {
    /// The domain rotation, or why the stored settings no longer make one (an unknown zone).
    pub fn to_domain(&self) -> Result<Rotation<Person>, String> {
        let zone = jiff::tz::TimeZone::get(&self.time_zone)
            .map_err(|_| format!("unknown time zone {:?}", self.time_zone))?;
        let starts_on = jiff_date(self.starts_on)?;
        let weekday = Weekday::from_monday_one_offset(i8::try_from(self.handoff_weekday).unwrap_or(1))
            .map_err(|e| e.to_string())?;
        let time = jiff_time(self.handoff_time)?;
        let length = u16::try_from(self.length_days).unwrap_or(0);
        let schedule = Schedule::new(zone, starts_on, weekday, time, length).map_err(|e| e.to_string())?;
        Rotation::new(self.participants.clone(), schedule).map_err(|e| e.to_string())
    }
}

/// `time` date → `jiff` date.
pub fn jiff_date(d: time::Date) -> Result<jiff::civil::Date, String> {
    jiff::civil::Date::new(
        i16::try_from(d.year()).map_err(|_| "year out of range".to_owned())?,
        u8::from(d.month()) as i8,
        d.day() as i8,
    )
    .map_err(|e| e.to_string())
}

/// `time` time of day → `jiff` time of day (to the second).
pub fn jiff_time(t: time::Time) -> Result<jiff::civil::Time, String> {
    jiff::civil::Time::new(t.hour() as i8, t.minute() as i8, t.second() as i8, 0).map_err(|e| e.to_string())
}

/// An override as stored.
#[derive(Clone, Debug)]
pub struct OverrideRow {
    pub id: Uuid,
    pub kind: RotationKind,
    pub who: Person,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub note: String,
    pub created_at: OffsetDateTime,
}

impl OverrideRow {
    pub fn to_domain(&self) -> Option<Override<Person>> {
        Override::new(to_jiff(self.starts_at), to_jiff(self.ends_at), self.who.clone()).ok()
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
    updated_at: OffsetDateTime,
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
pub async fn rotations(db: &mut PgConnection) -> Result<Vec<RotationRow>, sqlx::Error> {
    let settings: Vec<SettingsRow> = sqlx::query_as(
        "select kind, time_zone, starts_on, handoff_weekday, handoff_time, length_days, updated_at
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
                starts_on: s.starts_on,
                handoff_weekday: s.handoff_weekday,
                handoff_time: s.handoff_time,
                length_days: s.length_days,
                updated_at: s.updated_at,
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
    created_at: OffsetDateTime,
}

/// Overrides still running or to come after `after`, oldest created first (later ones win).
pub async fn overrides(
    db: impl PgExecutor<'_>,
    after: OffsetDateTime,
) -> Result<Vec<OverrideRow>, sqlx::Error> {
    let rows: Vec<OverrideSqlRow> = sqlx::query_as(
        "select o.id, o.kind, o.user_id, u.display_name, u.email, u.active, o.starts_at, o.ends_at, o.note, o.created_at
           from oncall_overrides o join users u on u.id = o.user_id
          where o.ends_at > $1
          order by o.created_at, o.id
          limit 1000",
    )
    .bind(after)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(OverrideRow {
                id: r.id,
                kind: decode_kind(&r.kind)?,
                who: Person { id: r.user_id, name: r.display_name, email: r.email, active: r.active },
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                note: r.note,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// One override.
pub async fn find_override(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<OverrideRow>, sqlx::Error> {
    let row: Option<OverrideSqlRow> = sqlx::query_as(
        "select o.id, o.kind, o.user_id, u.display_name, u.email, u.active, o.starts_at, o.ends_at, o.note, o.created_at
           from oncall_overrides o join users u on u.id = o.user_id where o.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(OverrideRow {
            id: r.id,
            kind: decode_kind(&r.kind)?,
            who: Person { id: r.user_id, name: r.display_name, email: r.email, active: r.active },
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            note: r.note,
            created_at: r.created_at,
        })
    })
    .transpose()
}

/// A rotation's new settings (validated by the caller).
pub struct RotationSettings<'a> {
    pub time_zone: &'a str,
    pub starts_on: time::Date,
    pub handoff_weekday: i16,
    pub handoff_time: time::Time,
    pub length_days: i16,
    /// User ids in hand-off order.
    pub participants: &'a [Uuid],
}

/// Creates or replaces a rotation and its participants.
pub async fn save_rotation(
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
    .bind(s.starts_on)
    .bind(s.handoff_weekday)
    .bind(s.handoff_time)
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
pub async fn insert_override(
    db: impl PgExecutor<'_>,
    kind: RotationKind,
    user_id: Uuid,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
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
    .bind(starts_at)
    .bind(ends_at)
    .bind(note)
    .bind(created_by)
    .execute(db)
    .await?;
    Ok(id)
}

/// Removes an override; whether it existed.
pub async fn delete_override(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from oncall_overrides where id = $1").bind(id).execute(db).await?.rows_affected()
        > 0)
}

/// Tells every process (its header cache) that a rotation or override changed; delivered at
/// commit.
pub async fn notify_changed(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(crate::oncall::NOTIFY_CHANNEL).execute(db).await?;
    Ok(())
}

/// A rotation in domain form with the overrides that concern it.
#[derive(Clone, Debug)]
pub struct Covered {
    pub row: RotationRow,
    pub rotation: Rotation<Person>,
    pub overrides: Vec<Override<Person>>,
    pub override_rows: Vec<OverrideRow>,
}

/// Everything needed to say who is on call, read in one go.
#[derive(Clone, Debug, Default)]
pub struct Team {
    pub responders: Option<Covered>,
    pub managers: Option<Covered>,
}

impl Team {
    /// Who is on call at `t`.
    pub fn at(&self, t: Timestamp) -> OnCallNow<Person> {
        fn covered(c: &Option<Covered>) -> Option<rotation::Covered<'_, Person>> {
            c.as_ref().map(|c| (&c.rotation, c.overrides.as_slice()))
        }
        rotation::on_call_now(covered(&self.responders), covered(&self.managers), t)
    }

    pub fn get(&self, kind: RotationKind) -> Option<&Covered> {
        match kind {
            RotationKind::Responders => self.responders.as_ref(),
            RotationKind::Managers => self.managers.as_ref(),
        }
    }
}

/// Reads both rotations and the overrides that still matter after `now`.
pub async fn team(db: &mut PgConnection, now: OffsetDateTime) -> Result<Team, sqlx::Error> {
    let rows = rotations(&mut *db).await?;
    let overrides = overrides(&mut *db, now - time::Duration::days(1)).await?;
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
pub async fn on_call_now(db: &mut PgConnection) -> Result<OnCallNow<Person>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    Ok(team(db, now).await?.at(to_jiff(now)))
}
