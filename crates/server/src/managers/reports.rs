//! `/reports`: SLA compliance per severity and period (week, month, quarter or a custom range in
//! the team's zone), incidents per component, on-call load per person, and trends over the
//! last twelve periods as server-rendered SVG with a table beside each chart. Every table
//! downloads as CSV (`/reports/{table}.csv`) built from the very cells the page shows; the API
//! (`/api/v1/reports`) returns the same tables. Figures are aggregated in SQL (`db::reports`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use twisterlab_domain::period::{Period, PeriodKind, TREND_PERIODS};
use twisterlab_domain::severity::Severity;

use super::charts::{self, Bar};
use super::escalations::capitalise;
use crate::db::reports::{self as store, SeverityFigures};
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;
use crate::web::form::Choice;
use crate::web::page::{Layout, render_page};

/// What a figure that cannot be computed (no incident, nothing acknowledged) shows.
pub(crate) const NOT_AVAILABLE: &str = "n/a";

/// The report's query string, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ReportQuery {
    /// `week`, `month` (default), `quarter` or `custom`.
    pub kind: String,
    /// A day in the wanted week, month or quarter (`YYYY-MM-DD`); today when blank.
    pub date: String,
    /// A custom range's first and last day.
    pub start: String,
    pub end: String,
    /// `P0` … `P3`, or blank for every severity.
    pub severity: String,
}

impl ReportQuery {
    /// The query from a query string's pairs (each parameter at most once; others ignored).
    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> Result<Self, Vec<FieldError>> {
        let values = super::query_values(pairs)?;
        let get = |k: &str| values.get(k).map_or_else(String::new, |v| (*v).to_owned());
        Ok(Self {
            kind: get("kind"),
            date: get("date"),
            start: get("start"),
            end: get("end"),
            severity: get("severity"),
        })
    }
}

/// The checked report request.
#[derive(Clone, Debug)]
pub(crate) struct ReportRequest {
    pub period: Period,
    pub severity: Option<Severity>,
}

/// Checks the query: the period in the team's zone and the severity. Every day given is
/// checked, used or not. A custom range with one day only is that day; with none, today.
pub(crate) fn parse_request(
    q: &ReportQuery,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<ReportRequest, Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let severity = match q.severity.trim() {
        "" => None,
        s => match s.parse::<Severity>() {
            Ok(s) => Some(s),
            Err(_) => {
                errors
                    .push("severity", "Choose a severity from the list (P0, P1, P2, P3) or every severity.");
                None
            }
        },
    };
    let day = |field: &str, raw: &str, errors: &mut FieldErrors| {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        super::parse_day(raw).or_else(|| {
            errors.push(field, super::day_error(raw));
            None
        })
    };
    let start = day("start", &q.start, &mut errors);
    let end = day("end", &q.end, &mut errors);
    let date = day("date", &q.date, &mut errors);
    let period = match q.kind.trim() {
        "custom" => match (start, end) {
            (Some(first), Some(last)) => Period::custom(zone, first, last)
                .map_err(|e| errors.push(e.field().as_str(), capitalise(&e.to_string())))
                .ok(),
            (Some(one), None) | (None, Some(one)) => Period::custom(zone, one, one)
                .map_err(|e| errors.push("start", capitalise(&e.to_string())))
                .ok(),
            // Like the calendar kinds without a date: today.
            (None, None) if q.start.trim().is_empty() && q.end.trim().is_empty() => {
                let today = zone.to_datetime(now).date();
                Period::custom(zone, today, today)
                    .map_err(|e| errors.push("start", capitalise(&e.to_string())))
                    .ok()
            }
            (None, None) => None,
        },
        kind => {
            let kind = if kind.is_empty() { Ok(PeriodKind::Month) } else { kind.parse::<PeriodKind>() };
            match kind {
                Ok(kind) => {
                    let day =
                        if q.date.trim().is_empty() { Some(zone.to_datetime(now).date()) } else { date };
                    day.and_then(|d| {
                        Period::calendar(kind, zone, d)
                            .map_err(|e| errors.push("date", capitalise(&e.to_string())))
                            .ok()
                    })
                }
                Err(_) => {
                    errors.push("kind", "Choose week, month, quarter or a custom range.");
                    None
                }
            }
        }
    };
    match period {
        Some(period) if errors.is_empty() => Ok(ReportRequest { period, severity }),
        _ => Err(errors.into_vec()),
    }
}

/// A table of the report: what the page shows, the CSV holds and the API returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Table {
    /// `severity`, `components`, `oncall`, `trend`: the CSV's name too.
    pub id: &'static str,
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// RFC 4180 CSV with CRLF line ends; a text cell that a spreadsheet would run as a formula
    /// is prefixed with `'`.
    pub(crate) fn csv(&self) -> String {
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(self.rows.iter()) {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

fn csv_cell(cell: &str) -> String {
    let guarded = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// Seconds as minutes with one decimal (`450` → `7.5`), or `n/a`.
pub(crate) fn minutes(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| NOT_AVAILABLE.to_owned(), |s| format!("{:.1}", s / 60.0))
}

/// `part` of `whole` as a percentage with one decimal, or `n/a` of nothing.
pub(crate) fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return NOT_AVAILABLE.to_owned();
    }
    #[allow(clippy::cast_precision_loss)] // counts of incidents, far below 2^52
    let share = part as f64 * 100.0 / whole as f64;
    format!("{share:.1}")
}

fn severity_row(label: String, f: &SeverityFigures) -> Vec<String> {
    vec![
        label,
        f.declared.to_string(),
        minutes(f.mtta_median),
        minutes(f.mtta_p90),
        minutes(f.mttr_median),
        minutes(f.mttr_p90),
        percent(f.within_target, f.declared),
        percent(f.escalated_to_manager, f.declared),
        f.sla_breaches.to_string(),
    ]
}

/// Every table and the trend of one report.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub period: Period,
    pub tables: Vec<Table>,
    /// The trend periods, oldest first, with their figures.
    pub trend: Vec<(Period, store::TrendPoint)>,
}

impl Report {
    pub(crate) fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

/// Computes the report: four queries, each one aggregation in SQL.
pub(crate) async fn compute(
    app: &AppState,
    request: &ReportRequest,
    now: Timestamp,
) -> Result<Report, sqlx::Error> {
    let (start, end) = (request.period.start(), request.period.end());
    let severity = request.severity.map(Severity::as_str);
    // One read-only transaction, only so that `without_jit` holds for these four queries.
    let mut conn = app.pool.begin().await?;
    store::without_jit(&mut conn).await?;
    let figures = store::by_severity(&mut *conn, start, end, severity, now).await?;
    let components = store::by_component(&mut *conn, start, end, severity).await?;
    let load = store::oncall_load(&mut *conn, start, end, severity, &app.config.timezone_name).await?;
    let periods = request.period.trend(TREND_PERIODS);
    let bounds: Vec<_> = periods.iter().map(|p| (p.start(), p.end())).collect();
    let points = store::trend(&mut *conn, &bounds, severity).await?;
    conn.rollback().await?;

    // Every severity gets a row, zero when nothing happened; the total comes last.
    let shown: Vec<Severity> = match request.severity {
        Some(s) => vec![s],
        None => Severity::ALL.to_vec(),
    };
    let empty = |severity: Option<String>| SeverityFigures {
        severity,
        declared: 0,
        mtta_median: None,
        mtta_p90: None,
        mttr_median: None,
        mttr_p90: None,
        within_target: 0,
        escalated_to_manager: 0,
        sla_breaches: 0,
    };
    let mut severity_rows: Vec<Vec<String>> = shown
        .iter()
        .map(|s| {
            let f = figures.iter().find(|f| f.severity.as_deref() == Some(s.as_str())).cloned();
            severity_row(s.as_str().to_owned(), &f.unwrap_or_else(|| empty(Some(s.as_str().to_owned()))))
        })
        .collect();
    let total = figures.iter().find(|f| f.severity.is_none()).cloned().unwrap_or_else(|| empty(None));
    severity_rows.push(severity_row("All".to_owned(), &total));

    let mut component_rows: Vec<Vec<String>> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for c in &components {
        if !names.contains(&c.component.as_str()) {
            names.push(&c.component);
        }
    }
    for name in names {
        let mut row = vec![name.to_owned()];
        let mut sum = 0;
        for s in &shown {
            let n = components
                .iter()
                .find(|c| c.component == name && c.severity == s.as_str())
                .map_or(0, |c| c.incidents);
            sum += n;
            row.push(n.to_string());
        }
        row.push(sum.to_string());
        component_rows.push(row);
    }
    let mut component_headers = vec!["Component".to_owned()];
    component_headers.extend(shown.iter().map(|s| s.as_str().to_owned()));
    component_headers.push("Total".to_owned());

    let trend: Vec<(Period, store::TrendPoint)> = periods.into_iter().zip(points).collect();
    let label = request.period.label();
    let tables = vec![
        Table {
            id: "severity",
            title: format!("SLA compliance per severity, {label}"),
            headers: [
                "Severity",
                "Declared",
                "MTTA median (min)",
                "MTTA p90 (min)",
                "MTTR median (min)",
                "MTTR p90 (min)",
                "Acknowledged within target (%)",
                "Escalated to manager (%)",
                "SLA breaches",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: severity_rows,
        },
        Table {
            id: "components",
            title: format!("Incidents per component, {label}"),
            headers: component_headers,
            rows: component_rows,
        },
        Table {
            id: "oncall",
            title: format!("On-call load per person, {label}"),
            headers: ["Person", "Pages", "Outside business hours", "At night (22:00-07:00)"]
                .map(str::to_owned)
                .to_vec(),
            rows: load
                .iter()
                .map(|l| {
                    vec![
                        l.name.clone(),
                        l.pages.to_string(),
                        l.outside_hours.to_string(),
                        l.night.to_string(),
                    ]
                })
                .collect(),
        },
        Table {
            id: "trend",
            title: format!("Trend over the last {} periods", trend.len()),
            headers: [
                "Period",
                "Declared",
                "MTTA median (min)",
                "MTTR median (min)",
                "Acknowledged within target (%)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: trend
                .iter()
                .map(|(p, t)| {
                    vec![
                        p.label(),
                        t.declared.to_string(),
                        minutes(t.mtta_median),
                        minutes(t.mttr_median),
                        percent(t.within_target, t.declared),
                    ]
                })
                .collect(),
        },
    ];
    Ok(Report { period: request.period.clone(), tables, trend })
}

/// A trend chart with its accessible title.
pub(crate) struct ChartView {
    /// Safe SVG markup from `charts::bars` (every text escaped there).
    pub svg: String,
}

fn charts_of(report: &Report) -> Vec<ChartView> {
    let label = |p: &Period| p.label();
    let bars = |value: &dyn Fn(&store::TrendPoint) -> Option<f64>| -> Vec<Bar> {
        report.trend.iter().map(|(p, t)| Bar { label: label(p), value: value(t) }).collect()
    };
    #[allow(clippy::cast_precision_loss)] // counts of incidents
    let declared = bars(&|t| Some(t.declared as f64));
    let mtta = bars(&|t| t.mtta_median.map(|s| s / 60.0));
    let mttr = bars(&|t| t.mttr_median.map(|s| s / 60.0));
    #[allow(clippy::cast_precision_loss)]
    let within = bars(&|t| (t.declared > 0).then(|| t.within_target as f64 * 100.0 / t.declared as f64));
    vec![
        ChartView {
            svg: charts::bars("chart-declared", "Incidents declared per period", "incidents", &declared),
        },
        ChartView { svg: charts::bars("chart-mtta", "MTTA median per period (minutes)", "min", &mtta) },
        ChartView { svg: charts::bars("chart-mttr", "MTTR median per period (minutes)", "min", &mttr) },
        ChartView {
            svg: charts::bars(
                "chart-within",
                "Share acknowledged within the response target (%)",
                "%",
                &within,
            ),
        },
    ]
}

#[derive(Template)]
#[template(path = "managers/reports.html")]
pub(crate) struct ReportPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub query: ReportQuery,
    pub kinds: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub report: Option<Report>,
    pub charts: Vec<ChartView>,
    /// The query string for CSV links.
    pub csv_query: String,
    pub time_zone: String,
    /// False when the query had errors (the page then answers 422).
    pub status_ok: bool,
}

fn query_string(q: &ReportQuery) -> String {
    let pairs = [
        ("kind", &q.kind),
        ("date", &q.date),
        ("start", &q.start),
        ("end", &q.end),
        ("severity", &q.severity),
    ];
    pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", crate::auth::urlencode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET /reports`.
pub(crate) async fn show_report(
    State(app): State<AppState>,
    layout: Layout,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let (q, parsed) = match ReportQuery::from_pairs(&pairs) {
        Ok(q) => {
            let parsed = parse_request(&q, &app.config.timezone, now);
            (q, parsed)
        }
        Err(errors) => (ReportQuery::default(), Err(errors)),
    };
    let (report, errors) = match parsed {
        Ok(request) => (Some(compute(&app, &request, now).await?), FieldErrors::new()),
        Err(errors) => (None, FieldErrors::from(errors)),
    };
    let kind = if q.kind.trim().is_empty() { "month" } else { q.kind.trim() };
    let mut severities = vec![Choice::new("", "every severity", q.severity.trim().is_empty())];
    severities.extend(Severity::ALL.iter().map(|s| {
        Choice::new(s.as_str(), format!("{} {}", s.as_str(), s.label()), s.as_str() == q.severity.trim())
    }));
    let page = ReportPage {
        kinds: [("week", "Week"), ("month", "Month"), ("quarter", "Quarter"), ("custom", "Custom range")]
            .iter()
            .map(|(v, l)| Choice::new(*v, *l, *v == kind))
            .collect(),
        severities,
        charts: report.as_ref().map(charts_of).unwrap_or_default(),
        csv_query: query_string(&q),
        report,
        status_ok: errors.is_empty(),
        errors,
        query: q,
        time_zone: app.config.timezone_name.clone(),
        layout,
    };
    let mut response = render_page(&page);
    if !page.status_ok {
        *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /reports/{table}.csv`: one table of the report, exactly as the page shows it.
pub(crate) async fn download_csv(
    State(app): State<AppState>,
    Path(file): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let q = ReportQuery::from_pairs(&pairs).map_err(AppError::Validation)?;
    let Some(id) = file.strip_suffix(".csv") else {
        return Err(AppError::NotFoundThing { what: "This report table".to_owned() });
    };
    if !["severity", "components", "oncall", "trend"].contains(&id) {
        return Err(AppError::NotFoundThing { what: "This report table".to_owned() });
    }
    let now = Timestamp::now();
    let request = parse_request(&q, &app.config.timezone, now).map_err(AppError::Validation)?;
    let report = compute(&app, &request, now).await?;
    let table =
        report.table(id).ok_or_else(|| AppError::NotFoundThing { what: "This report table".to_owned() })?;
    let name = format!("twisterlab-{}-{}.csv", id, report.period.key().replace("..", "_"));
    let mut response = table.csv().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
