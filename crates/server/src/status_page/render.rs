//! Which documents exist and how each is rendered from the loaded data.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::cache::{ApiDoc, Doc, DocKey, Document, Settings, Site};
use super::data::{HistoryChunk, Incident, StatusData};
use super::{calendar, feeds, html, statuspage_api};

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const ATOM: &str = "application/atom+xml; charset=utf-8";
const RSS: &str = "application/rss+xml; charset=utf-8";
const CALENDAR: &str = "text/calendar; charset=utf-8";

/// What a document outside the loaded data is rendered from, read by its own query: an older
/// history page, an incident no longer on the status page.
pub(crate) enum Extra {
    History(HistoryChunk),
    Incident(Box<Incident>),
}

/// Whether `doc` needs its own read (it lies outside what a rebuild loads).
pub(crate) fn needs_read(data: &StatusData, doc: Doc) -> bool {
    match doc {
        Doc::Incident(id) => data.incident(id).is_none() && data.maintenance(id).is_none(),
        Doc::History { after } => after.is_some(),
        _ => false,
    }
}

/// Reads what `doc` is rendered from when it lies outside the loaded data; `None` when it
/// names nothing public.
pub(crate) async fn read(pool: &sqlx::PgPool, doc: Doc) -> Result<Option<Extra>, sqlx::Error> {
    Ok(match doc {
        Doc::Incident(id) => {
            super::data::load_incident(pool, id).await?.map(|i| Extra::Incident(Box::new(i)))
        }
        Doc::History { after: Some(after) } => {
            super::data::load_history(pool, after).await?.map(Extra::History)
        }
        _ => None,
    })
}

/// Renders one document (from `extra` when it needed its own read); `None` when it does not
/// exist or failed to render (logged).
pub(crate) fn one(
    settings: &Settings,
    data: &StatusData,
    extra: Option<&Extra>,
    key: DocKey,
    stale: Option<Timestamp>,
    now: Timestamp,
) -> Option<Document> {
    let html_doc = |r: Result<String, askama::Error>| match r {
        Ok(body) => Some(Document::new(HTML, body.into_bytes(), false)),
        Err(e) => {
            tracing::error!(error = %e, doc = ?key, "status page template failed to render");
            None
        }
    };
    match key.doc {
        Doc::Home { refresh } => html_doc(html::home(settings, data, key.site, refresh, stale, now)),
        Doc::History { after: None } => {
            html_doc(html::history(settings, data, &data.history, key.site, stale, now))
        }
        Doc::History { after: Some(_) } => match extra {
            Some(Extra::History(chunk)) => {
                html_doc(html::history(settings, data, chunk, key.site, stale, now))
            }
            _ => None,
        },
        Doc::Incident(id) => {
            let loaded = match extra {
                Some(Extra::Incident(i)) => Some(&**i),
                _ => None,
            };
            html_doc(html::incident(settings, data, loaded, key.site, id, stale, now)?)
        }
        Doc::Api(api) => match statuspage_api::render(settings, data, api) {
            Ok(body) => Some(Document::new(JSON, body, true)),
            Err(e) => {
                tracing::error!(error = %e, doc = ?key, "status JSON failed to serialise");
                None
            }
        },
        Doc::Atom => Some(Document::new(ATOM, feeds::atom(settings, data).into_bytes(), true)),
        Doc::Rss => Some(Document::new(RSS, feeds::rss(settings, data).into_bytes(), true)),
        Doc::Calendar => Some(Document::new(CALENDAR, calendar::ics(settings, data, now).into_bytes(), true)),
    }
}

/// The documents rendered on every rebuild: the status host's pages and the JSON most readers
/// open. With `keep` (a re-render after a failed rebuild) the JSON is taken from there, since
/// only the HTML carries the stale note.
pub(crate) fn eager(
    settings: &Settings,
    data: &StatusData,
    stale: Option<Timestamp>,
    keep: Option<&HashMap<DocKey, Arc<Document>>>,
) -> HashMap<DocKey, Arc<Document>> {
    let now = Timestamp::now();
    let mut keys = vec![];
    // The status host's pages; the internal host's copies (`/status`) and the `?refresh=1`
    // variants are rendered on first use: few readers ask for them.
    keys.push(DocKey::new(Site::Public, Doc::Home { refresh: false }));
    keys.push(DocKey::new(Site::Public, Doc::History { after: None }));
    for incident in data.open_incidents() {
        keys.push(DocKey::new(Site::Public, Doc::Incident(incident.id)));
    }
    // The JSON most tools poll; the incident list, the maintenance lists and the feeds are
    // rendered on first use.
    for api in [ApiDoc::Summary, ApiDoc::Status, ApiDoc::Components, ApiDoc::UnresolvedIncidents] {
        keys.push(DocKey::new(Site::Public, Doc::Api(api)));
    }

    let mut docs = HashMap::with_capacity(keys.len());
    for key in keys {
        if let (false, Some(kept)) = (key.doc.is_html(), keep.and_then(|k| k.get(&key))) {
            docs.insert(key, kept.clone());
            continue;
        }
        if let Some(doc) = one(settings, data, None, key, stale, now) {
            docs.insert(key, Arc::new(doc));
        }
    }
    docs
}
