//! The in-memory cache of every public status document: rendered once per rebuild, kept with
//! gzip and brotli variants and a strong ETag, served without touching the database.
//!
//! Rebuilds are single-flight (one at a time per process, behind `build`); requests never
//! rebuild, except the very first one when no worker has built yet. A failed rebuild keeps
//! the last good data and re-renders the HTML with a "may be out of date" note.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::data::{self, StatusData};
use super::render;
use crate::config::Config;

/// `Cache-Control` of every status document: short, so browsers and proxies come back soon
/// and the page stays fresh during an incident.
pub const CACHE_CONTROL: &str = "public, max-age=10";

/// Cap on lazily rendered documents (old incident pages, older history pages) per rebuild.
const LAZY_LIMIT: usize = 4096;

/// Longest a rebuild waits for the database before it counts as failed.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A request that finds no document yet may start a build at most this often.
const ON_DEMAND_RETRY: Duration = Duration::from_secs(2);

/// Which host a page is rendered for: the links differ (`/history` or `/status/history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    /// The status host (`status.twisterlab.local`).
    Public,
    /// The internal host, under `/status`.
    Internal,
}

impl Site {
    /// Path prefix of the status pages on this site.
    pub const fn prefix(self) -> &'static str {
        match self {
            Site::Public => "",
            Site::Internal => "/status",
        }
    }
}

/// The Statuspage-compatible JSON documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiDoc {
    Summary,
    Status,
    Components,
    Incidents,
    UnresolvedIncidents,
    ScheduledMaintenances,
    UpcomingMaintenances,
    ActiveMaintenances,
}

impl ApiDoc {
    pub const ALL: [ApiDoc; 8] = [
        ApiDoc::Summary,
        ApiDoc::Status,
        ApiDoc::Components,
        ApiDoc::Incidents,
        ApiDoc::UnresolvedIncidents,
        ApiDoc::ScheduledMaintenances,
        ApiDoc::UpcomingMaintenances,
        ApiDoc::ActiveMaintenances,
    ];

    /// Its path.
    pub const fn path(self) -> &'static str {
        match self {
            ApiDoc::Summary => "/api/v2/summary.json",
            ApiDoc::Status => "/api/v2/status.json",
            ApiDoc::Components => "/api/v2/components.json",
            ApiDoc::Incidents => "/api/v2/incidents.json",
            ApiDoc::UnresolvedIncidents => "/api/v2/incidents/unresolved.json",
            ApiDoc::ScheduledMaintenances => "/api/v2/scheduled-maintenances.json",
            ApiDoc::UpcomingMaintenances => "/api/v2/scheduled-maintenances/upcoming.json",
            ApiDoc::ActiveMaintenances => "/api/v2/scheduled-maintenances/active.json",
        }
    }
}

/// One cacheable document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Doc {
    Home {
        refresh: bool,
    },
    /// A page of the history: the first, or the one after the public incident `after`.
    History {
        after: Option<Uuid>,
    },
    Incident(Uuid),
    Api(ApiDoc),
    Atom,
    Rss,
    /// `/maintenance.ics`: the maintenance windows as an iCalendar feed.
    Calendar,
}

impl Doc {
    /// Whether the document is HTML (rendered per site, re-rendered with the stale note).
    pub const fn is_html(self) -> bool {
        matches!(self, Doc::Home { .. } | Doc::History { .. } | Doc::Incident(_))
    }

    /// Whether other sites may read it (the JSON API and the feeds).
    pub const fn is_cors(self) -> bool {
        matches!(self, Doc::Api(_) | Doc::Atom | Doc::Rss | Doc::Calendar)
    }
}

/// A document for a site. JSON and feeds are the same on both sites: their key uses
/// [`Site::Public`] whichever host asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DocKey {
    pub site: Site,
    pub doc: Doc,
}

impl DocKey {
    pub fn new(site: Site, doc: Doc) -> Self {
        Self { site: if doc.is_html() { site } else { Site::Public }, doc }
    }
}

/// One rendered document with its precompressed variants.
#[derive(Debug)]
pub struct Document {
    pub content_type: &'static str,
    pub identity: Bytes,
    pub gzip: Option<Bytes>,
    pub br: Option<Bytes>,
    /// Hex digest of the identity bytes; the ETags are `"<tag>"`, `"<tag>-gz"`, `"<tag>-br"`.
    pub tag: String,
    /// The three ETag header values, made once.
    etags: [HeaderValue; 3],
    cors: bool,
}

/// Content codings we hold variants for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Document {
    /// Compresses `body` both ways and computes its tag.
    pub fn new(content_type: &'static str, body: Vec<u8>, cors: bool) -> Self {
        let tag = hex::encode(&Sha256::digest(&body)[..16]);
        let gzip = gzip(&body).map(Bytes::from);
        let br = brotli(&body).map(Bytes::from);
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
        };
        let etags = [etag(""), etag("-gz"), etag("-br")];
        Self { content_type, identity: Bytes::from(body), gzip, br, tag, etags, cors }
    }

    fn etag(&self, coding: Coding) -> &HeaderValue {
        match coding {
            Coding::Identity => &self.etags[0],
            Coding::Gzip => &self.etags[1],
            Coding::Br => &self.etags[2],
        }
    }

    /// Whether `If-None-Match` names any variant of this document (weak comparison, as RFC
    /// 9110 asks for `If-None-Match`; all variants carry the same content).
    fn matches(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| {
                let t = t.trim();
                if t == "*" {
                    return true;
                }
                let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
                let t = t.strip_suffix("-gz").or_else(|| t.strip_suffix("-br")).unwrap_or(t);
                t == self.tag
            })
    }

    /// The response for a request with `headers`: the best variant the client accepts, or
    /// 304 when it already has this version. Always the same bytes for the same document.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let coding = match negotiate(headers) {
            Coding::Br if self.br.is_some() => Coding::Br,
            Coding::Br | Coding::Gzip if self.gzip.is_some() => Coding::Gzip,
            _ => Coding::Identity,
        };
        let etag = self.etag(coding).clone();
        let not_modified = self.matches(headers);
        let mut response = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let body = match coding {
                Coding::Br => self.br.clone(),
                Coding::Gzip => self.gzip.clone(),
                Coding::Identity => None,
            }
            .unwrap_or_else(|| self.identity.clone());
            Response::new(Body::from(body))
        };
        let h = response.headers_mut();
        if !not_modified {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
            // Set on the precompressed bytes, so the compression layer leaves them alone.
            match coding {
                Coding::Br => h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br")),
                Coding::Gzip => h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                Coding::Identity => None,
            };
        }
        h.insert(header::ETAG, etag);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if self.cors {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        response
    }
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    // Level 6: within a few per cent of 9 on these pages at a third of the time; every rebuild
    // compresses every eager document, and rebuilds run while the page is under load.
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3 + 64), flate2::Compression::new(6));
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn brotli(body: &[u8]) -> Option<Vec<u8>> {
    // Quality 5 still beats gzip on these pages and is fast enough to recompress on every
    // status change while the page is under load (11 takes tens of times longer).
    let params = brotli::enc::BrotliEncoderParams { quality: 5, lgwin: 22, ..Default::default() };
    let mut out = Vec::with_capacity(body.len() / 4 + 64);
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
    Some(out)
}

/// The coding the client prefers among those we hold: brotli, then gzip, by q-value.
pub fn negotiate(headers: &HeaderMap) -> Coding {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let name = pieces.next().unwrap_or("").trim();
            let mut q = 1000u32;
            for param in pieces {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = v.trim().parse::<f32>().map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u32).unwrap_or(0);
                }
            }
            if name.eq_ignore_ascii_case("br") {
                br = Some(q);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name == "*" {
                star = Some(q);
            }
        }
    }
    let br = br.or(star).unwrap_or(0);
    let gzip = gzip.or(star).unwrap_or(0);
    if br > 0 && br >= gzip {
        Coding::Br
    } else if gzip > 0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// What the documents say about the site itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// "TwisterLab".
    pub page_name: String,
    /// `https://status.twisterlab.local`, no trailing slash.
    pub base_url: String,
    /// Statuspage's page id: stable, derived from the status host.
    pub page_id: String,
    pub time_zone: jiff::tz::TimeZone,
    pub time_zone_name: String,
    /// The status host without port, lowercase.
    pub host: String,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let host = super::bare_host(&config.status_host).to_ascii_lowercase();
        let scheme = if config.public_url.starts_with("https://") { "https" } else { "http" };
        Self {
            page_name: "TwisterLab".into(),
            base_url: format!("{scheme}://{}", config.status_host.to_ascii_lowercase()),
            page_id: hex::encode(&Sha256::digest(host.as_bytes())[..6]),
            time_zone: config.timezone.clone(),
            time_zone_name: config.timezone_name.clone(),
            host,
        }
    }
}

/// Every document of one build.
pub struct Snapshot {
    pub(crate) data: Arc<StatusData>,
    /// Set when the last rebuild failed: the data is from then.
    pub stale_since: Option<Timestamp>,
    /// When the documents were rendered (relative times are computed against it).
    pub rendered_at: Timestamp,
    docs: HashMap<DocKey, Arc<Document>>,
    lazy: Mutex<HashMap<DocKey, LazyDoc>>,
}

/// A document rendered on first use: one render, however many requests wait for it.
type LazyDoc = Arc<tokio::sync::OnceCell<Option<Arc<Document>>>>;

impl Snapshot {
    fn new(
        data: Arc<StatusData>,
        stale_since: Option<Timestamp>,
        rendered_at: Timestamp,
        docs: HashMap<DocKey, Arc<Document>>,
    ) -> Self {
        Self { data, stale_since, rendered_at, docs, lazy: Mutex::new(HashMap::new()) }
    }

    /// The document for `key`: prerendered, or rendered once on first use (old incident
    /// pages, older history pages, read by their own query); `Ok(None)` when there is no such
    /// document, `Err` when its read failed (not remembered: the next request tries again).
    pub async fn get(
        &self,
        settings: &Settings,
        pool: &PgPool,
        key: DocKey,
    ) -> Result<Option<Arc<Document>>, sqlx::Error> {
        if let Some(doc) = self.docs.get(&key) {
            return Ok(Some(doc.clone()));
        }
        let needs_read = render::needs_read(&self.data, key.doc);
        let cell = {
            let mut lazy = self.lazy.lock().unwrap_or_else(PoisonError::into_inner);
            if lazy.len() >= LAZY_LIMIT && !lazy.contains_key(&key) {
                None
            } else {
                Some(lazy.entry(key).or_default().clone())
            }
        };
        let render = {
            let (settings, data, stale, at) =
                (settings.clone(), self.data.clone(), self.stale_since, self.rendered_at);
            let pool = pool.clone();
            move || async move {
                let extra = if needs_read {
                    match render::read(&pool, key.doc).await? {
                        Some(extra) => Some(extra),
                        None => return Ok(None),
                    }
                } else {
                    None
                };
                // Rendering and compressing take milliseconds: off the request threads.
                Ok(tokio::task::spawn_blocking(move || {
                    render::one(&settings, &data, extra.as_ref(), key, stale, at).map(Arc::new)
                })
                .await
                .ok()
                .flatten())
            }
        };
        match cell {
            Some(cell) => cell.get_or_try_init(render).await.cloned(),
            None => render().await,
        }
    }
}

/// Why a rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("cannot read the status data: {0}")]
    Database(#[from] sqlx::Error),
    #[error("rendering the status documents failed: {0}")]
    Render(String),
    #[error("reading the status data took longer than {0:?}")]
    Timeout(Duration),
}

#[derive(Default)]
struct BuildState {
    last_attempt: Option<Instant>,
    failing: bool,
}

/// The cache of one process for one database and status site.
pub struct StatusCache {
    pub settings: Settings,
    pub(crate) pool: PgPool,
    current: RwLock<Option<Arc<Snapshot>>>,
    build: tokio::sync::Mutex<BuildState>,
    /// Rebuild attempts so far (for tests and logs).
    attempts: AtomicU64,
}

impl StatusCache {
    pub fn new(pool: PgPool, settings: Settings) -> Self {
        Self {
            settings,
            pool,
            current: RwLock::new(None),
            build: tokio::sync::Mutex::new(BuildState::default()),
            attempts: AtomicU64::new(0),
        }
    }

    /// The current documents, if any build succeeded yet.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn install(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(snapshot));
    }

    /// Reads the data and renders every document, once at a time. On failure the last good
    /// data is re-rendered with the stale note, so the page says since when it may be wrong.
    pub async fn rebuild(&self) -> Result<(), RebuildError> {
        let mut state = self.build.lock().await;
        self.rebuild_locked(&mut state).await
    }

    /// How many rebuilds were attempted in this process.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    async fn rebuild_locked(&self, state: &mut BuildState) -> Result<(), RebuildError> {
        state.last_attempt = Some(Instant::now());
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        // A database that hangs rather than refuses must still lead to the stale note.
        let loaded = match tokio::time::timeout(
            LOAD_TIMEOUT,
            data::load(&self.pool, &self.settings.time_zone),
        )
        .await
        {
            Ok(result) => result.map_err(RebuildError::from),
            Err(_) => Err(RebuildError::Timeout(LOAD_TIMEOUT)),
        };
        let previous = self.snapshot();
        match loaded {
            Ok(data) => {
                let data = Arc::new(data);
                let settings = self.settings.clone();
                let for_render = data.clone();
                let docs =
                    tokio::task::spawn_blocking(move || render::eager(&settings, &for_render, None, None))
                        .await
                        .map_err(|e| RebuildError::Render(e.to_string()))?;
                let rendered_at = Timestamp::now();
                self.install(Snapshot::new(data, None, rendered_at, docs));
                if state.failing {
                    tracing::info!("status page: the database answers again; the documents are current");
                }
                state.failing = false;
                tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "status page rebuilt");
                Ok(())
            }
            Err(e) => {
                if state.failing {
                    tracing::debug!(error = %e, "status page rebuild failed again; serving the last good documents");
                } else {
                    tracing::warn!(error = %e, "status page rebuild failed; serving the last good documents with a stale note");
                }
                state.failing = true;
                if let Some(previous) = previous {
                    let stale_since = previous.stale_since.unwrap_or(previous.data.loaded_at);
                    let settings = self.settings.clone();
                    let data = previous.data.clone();
                    let keep = previous.clone();
                    let docs = tokio::task::spawn_blocking(move || {
                        render::eager(&settings, &data, Some(stale_since), Some(&keep.docs))
                    })
                    .await
                    .map_err(|e| RebuildError::Render(e.to_string()))?;
                    self.install(Snapshot::new(
                        previous.data.clone(),
                        Some(stale_since),
                        Timestamp::now(),
                        docs,
                    ));
                }
                Err(e)
            }
        }
    }

    /// The current documents; when there are none yet, builds once (single-flight: waiting
    /// requests share that one build) unless a build was just tried.
    pub async fn snapshot_or_build(&self) -> Option<Arc<Snapshot>> {
        if let Some(s) = self.snapshot() {
            return Some(s);
        }
        let mut state = self.build.lock().await;
        if let Some(s) = self.snapshot() {
            return Some(s);
        }
        if state.last_attempt.is_none_or(|t| t.elapsed() >= ON_DEMAND_RETRY) {
            let _ = self.rebuild_locked(&mut state).await;
        }
        self.snapshot()
    }
}

/// The answer when a document's own read failed (the database is down or slow): short,
/// plain, not cached.
pub fn unreadable() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "10"),
        ],
        "This page of the TwisterLab status history cannot be read right now. The current status is on the front page.\n",
    )
        .into_response();
    response.extensions_mut().insert(crate::web::error::KeepBody);
    response
}

/// The answer before the first successful build: short, plain, not cached.
pub fn unavailable() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "5"),
        ],
        "The TwisterLab status page is starting and has no data yet. Try again in a few seconds.\n",
    )
        .into_response();
    response.extensions_mut().insert(crate::web::error::KeepBody);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn brotli_is_preferred_then_gzip_by_quality() {
        assert_eq!(negotiate(&headers(&[("accept-encoding", "gzip, deflate, br")])), Coding::Br);
        assert_eq!(negotiate(&headers(&[("accept-encoding", "gzip")])), Coding::Gzip);
        assert_eq!(negotiate(&headers(&[("accept-encoding", "br;q=0.5, gzip;q=0.8")])), Coding::Gzip);
        assert_eq!(negotiate(&headers(&[("accept-encoding", "br;q=0, gzip;q=0")])), Coding::Identity);
        assert_eq!(negotiate(&headers(&[("accept-encoding", "*")])), Coding::Br);
        assert_eq!(negotiate(&headers(&[("accept-encoding", "deflate")])), Coding::Identity);
        assert_eq!(negotiate(&headers(&[])), Coding::Identity);
    }

    #[test]
    fn any_variant_tag_revalidates_the_document() {
        let doc = Document::new("text/plain", b"hello status".repeat(20), false);
        let tag = |c| doc.etag(c).to_str().map(str::to_owned).unwrap_or_default();
        for tag in [tag(Coding::Identity), tag(Coding::Gzip), format!("W/{}", tag(Coding::Br))] {
            let mut h = HeaderMap::new();
            h.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(&format!("\"other\", {tag}")).expect("header"),
            );
            assert!(doc.matches(&h), "{tag}");
        }
        assert!(!doc.matches(&headers(&[("if-none-match", "\"nope\"")])));
    }
}
