//! A guided run of "API pods crashing" end to end (issue 11): the real binary, pointed by a
//! kubeconfig at the adapter's fake Kubernetes API server, driven by a commander through the
//! HTML forms exactly as a browser with JavaScript off would send them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use twisterlab_k8s::FIELD_MANAGER;

use crate::support::{Portal, fresh_database, hidden_value, signed_in_as};

// The adapter's fake API server, shared rather than copied: it records every request and
// refuses like RBAC whatever the Role does not grant. This test uses only part of it.
#[allow(dead_code)]
#[path = "../../crates/k8s-adapter/tests/fake_apiserver/fake.rs"]
mod fake_apiserver;

use fake_apiserver::{Fake, NS};

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api";
const API_PODS: &str = "/api/v1/namespaces/twisterlab/pods?&labelSelector=app%3Dtwisterlab-api";
const CRASHING_POD: &str = "/api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// A kubeconfig naming the fake, as an operator would write one for the portal.
fn kubeconfig_for(addr: std::net::SocketAddr, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: portal\n  user: {{}}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: portal\n    namespace: {NS}\n\
             current-context: fake\n"
        ),
    )
    .expect("write the kubeconfig");
    path
}

/// `&amp;` and friends back to text, as a browser reads an attribute or a text node.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of an HTML fragment: tags dropped, entities read, whitespace collapsed.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value of attribute `name` in one tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    Some(unescape(tag[start..].split('"').next().unwrap_or_default()))
}

/// The form posting to `action` on `page`; panics with the page when there is none.
fn form<'a>(page: &'a str, action: &str) -> &'a str {
    let marker = format!("action=\"{action}\"");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no form posting to {action} in:\n{page}"));
    let start = page[..at].rfind("<form").expect("the form's start");
    let end = page[at..].find("</form>").map(|i| at + i).expect("the form's end");
    &page[start..end]
}

/// What a browser submits for a form: every named input and textarea with its value as shown.
fn fields(form: &str) -> Vec<(String, String)> {
    let inputs = form.split("<input").skip(1).filter_map(|rest| {
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        Some((attribute(tag, "name")?, attribute(tag, "value").unwrap_or_default()))
    });
    let textareas = form.split("<textarea").skip(1).filter_map(|rest| {
        let end = rest.find('>')?;
        let content = &rest[end + 1..rest.find("</textarea>").unwrap_or(rest.len())];
        Some((attribute(&rest[..end], "name")?, unescape(content)))
    });
    inputs.chain(textareas).collect()
}

/// `fields` with `name` set to `value` (typed by the person).
fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    let field = fields.iter_mut().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no field {name}"));
    field.1 = value.to_owned();
    fields
}

/// A signed-in commander's browser tab.
struct Tab<'a> {
    portal: &'a Portal,
    http: reqwest::Client,
}

impl Tab<'_> {
    async fn get(&self, path: &str) -> String {
        let response = self.http.get(self.portal.url(path)).send().await.expect("GET");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Posts `fields` to `action`; returns the status, the Location and the body.
    async fn post(&self, action: &str, fields: &[(String, String)]) -> (u16, String, String) {
        let response = self
            .http
            .post(self.portal.url(action))
            .header("origin", &self.portal.base)
            .form(fields)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let location =
            response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (status, location, response.text().await.expect("body"))
    }

    /// Submits the form posting to `action` on `page` as shown, or with `typed` values; the
    /// answer must redirect (303) to `expected_location` (its path, before any `?` or `#`).
    async fn submit(&self, page: &str, action: &str, typed: &[(&str, &str)], expected_location: &str) {
        let mut values = fields(form(page, action));
        for (name, value) in typed {
            values = with(values, name, value);
        }
        let (status, location, body) = self.post(action, &values).await;
        assert_eq!(status, 303, "POST {action}: {body}");
        let path = location.split(['?', '#']).next().unwrap_or_default();
        assert_eq!(path, expected_location, "POST {action} redirected to {location}");
    }
}

/// The reads of the portal's background cluster snapshot (the overview's Kubernetes panel),
/// which runs every 15 s on its own clock: left out of what the steps are checked against.
fn snapshot_read(request: &str) -> bool {
    [
        format!("GET /api/v1/namespaces/{NS}/pods?"),
        format!("GET /api/v1/namespaces/{NS}/events?&fieldSelector=type%3DWarning"),
        format!("GET /apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods?"),
        format!("GET /apis/apps/v1/namespaces/{NS}/deployments?"),
    ]
    .iter()
    .any(|r| r == request)
}

/// The fake's requests since `mark` (snapshot reads left out), as `METHOD path?query`.
fn since(fake: &Fake, mark: usize) -> Vec<String> {
    fake.requests()[mark..].iter().filter(|r| !snapshot_read(r)).cloned().collect()
}

/// The list item of step `key` on a run page, as text.
fn step_text(run_page: &str, key: &str) -> String {
    let marker = format!("<li id=\"step-{key}\"");
    let start = run_page.find(&marker).unwrap_or_else(|| panic!("no step {key} on:\n{run_page}"));
    let end = run_page[start..].find("</li>").map_or(run_page.len(), |i| start + i);
    text_of(&run_page[start..end])
}

/// A timeline entry of the incident page: kind, who, and what it says.
#[derive(Debug)]
struct Entry {
    kind: String,
    actor: String,
    text: String,
}

fn timeline(incident_page: &str) -> Vec<Entry> {
    let list = incident_page.find("<ol class=\"timeline\">").expect("the timeline");
    let list = &incident_page[list..];
    let list = &list[..list.find("</ol>").unwrap_or(list.len())];
    list.split("<li id=\"e-")
        .skip(1)
        .map(|item| {
            let kind = item.split("kind-").nth(1).and_then(|k| k.split(['"', ' ']).next()).unwrap_or("");
            let meta = item.split("</strong> · ").nth(1).unwrap_or("");
            let actor = meta.split(['<', '\n']).next().unwrap_or("").trim();
            let content = item.find('>').map_or(item, |i| &item[i + 1..]);
            Entry { kind: kind.to_owned(), actor: unescape(actor), text: text_of(content) }
        })
        .collect()
}

#[tokio::test]
async fn a_commander_runs_api_pods_crashing_from_declare_to_resolve_through_the_pages() {
    let fake = Fake::incident_night();
    let addr = fake.serve().await;
    let dir = tempfile::tempdir().expect("scratch directory");
    let kubeconfig = kubeconfig_for(addr, dir.path());
    let database = fresh_database().await;
    let portal = Portal::start_with(
        &database,
        &[
            ("TWISTERLAB_KUBECONFIG", kubeconfig.to_str().expect("utf-8")),
            ("TWISTERLAB_KUBE_ENABLED", "true"),
        ],
    )
    .await;
    let (http, commander) = signed_in_as(&portal, "commander").await;
    let tab = Tab { portal: &portal, http };

    // Declare.
    let new = tab.get("/incidents/new").await;
    let declaration = [
        ("csrf_token".to_owned(), hidden_value(&new, "csrf_token")),
        ("title".to_owned(), "API pods crash-looping".to_owned()),
        ("severity".to_owned(), "P2".to_owned()),
    ];
    let (status, incident, body) = tab.post("/incidents", &declaration).await;
    assert_eq!(status, 303, "declare: {body}");
    assert!(incident.starts_with("/incidents/"), "{incident}");
    // Every request the fake should have received, in order; compared whole at the end too.
    let mut expected: Vec<String> = Vec::new();

    // Start the run the cluster's crash-looping pod suggests.
    let page = tab.get(&incident).await;
    assert!(page.contains(&format!("href=\"{incident}/runs/new\"")), "no way to start a runbook:\n{page}");
    let mark = fake.requests().len();
    let choose = tab.get(&format!("{incident}/runs/new")).await;
    let suggested = &choose[choose.find("id=\"suggested-title\"").expect("suggestions")
        ..choose.find("id=\"all-title\"").expect("the other runbooks")];
    assert!(suggested.contains("value=\"api-pods-crashing\""), "not suggested:\n{suggested}");
    assert!(
        text_of(suggested).contains("Because a pod of twisterlab-api is in CrashLoopBackOff."),
        "the suggestion says why:\n{suggested}"
    );
    assert!(
        fake.requests()[mark..].contains(&format!("GET /api/v1/namespaces/{NS}/pods?")),
        "the suggestions read the cluster's pods"
    );
    let start = format!("{incident}/runs");
    let choice = suggested
        .split("<form")
        .find(|f| f.contains("value=\"api-pods-crashing\""))
        .expect("the suggestion's form");
    let (status, run, body) = tab.post(&start, &fields(choice)).await;
    assert_eq!(status, 303, "start the run: {body}");
    let run = run.split(['?', '#']).next().unwrap_or_default().to_owned();
    assert!(run.starts_with("/runs/"), "{run}");

    // Describe the crashing pod.
    let page = tab.get(&run).await;
    let mark = fake.requests().len();
    tab.submit(&page, &format!("{run}/steps/check-events/run"), &[], &run).await;
    let step = [
        format!("GET {DEPLOYMENT}"),
        format!("GET {API_PODS}"),
        format!("GET {CRASHING_POD}"),
        format!(
            "GET /api/v1/namespaces/{NS}/events?&fieldSelector=involvedObject.kind%3DPod%2C\
             involvedObject.name%3Dtwisterlab-api-7d9f8b6c5d-x2x4q%2C\
             involvedObject.uid%3D5b0c7f0e-2d7a-4c4e-9d1e-0f5a1b2c3d4e"
        ),
    ];
    assert_eq!(since(&fake, mark), step, "describing reads the deployment, its pods, one pod and its events");
    expected.extend(step);
    let page = tab.get(&run).await;
    let described = step_text(&page, "check-events");
    assert!(described.contains(&format!("done by {commander}")), "{described}");
    assert!(described.contains("pod twisterlab-api-7d9f8b6c5d-x2x4q"), "{described}");
    assert!(described.contains("CrashLoopBackOff"), "{described}");
    assert!(described.contains("BackOff happened"), "its events: {described}");

    // The logs, narrowed to errors.
    let mark = fake.requests().len();
    let logs_step = format!("{run}/steps/check-recent-logs/run");
    tab.submit(&page, &logs_step, &[("check-recent-logs--p-filter", "error")], &run).await;
    let step = [
        format!("GET {DEPLOYMENT}"),
        format!("GET {API_PODS}"),
        format!("GET {CRASHING_POD}/log?&container=api&limitBytes=4194304&tailLines=5000"),
    ];
    assert_eq!(since(&fake, mark), step, "the logs of the crashing pod");
    expected.extend(step);
    let page = tab.get(&run).await;
    let logs = step_text(&page, "check-recent-logs");
    assert!(logs.contains(&format!("done by {commander}")), "{logs}");
    assert!(logs.contains("ERROR could not connect to postgres:5432"), "{logs}");
    assert!(!logs.contains("line 150"), "only lines with the filter: {logs}");

    // The restart: a dry run and its preview first.
    let restart = format!("{run}/steps/restart-api-after-secret");
    let mark = fake.requests().len();
    let values = fields(form(&page, &format!("{restart}/preview")));
    let (status, _, preview) = tab.post(&format!("{restart}/preview"), &values).await;
    assert_eq!(status, 200, "{preview}");
    let step =
        [format!("GET {DEPLOYMENT}"), format!("PATCH {DEPLOYMENT}?&dryRun=All&fieldManager={FIELD_MANAGER}")];
    assert_eq!(since(&fake, mark), step, "the preview is a server-side dry run");
    expected.extend(step);
    let dry_patch = fake.recorded().last().cloned().expect("the dry run");
    assert_eq!(dry_patch.content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    let previewed_at = dry_patch.json()["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        .as_str()
        .expect("the dry run sets the restart annotation")
        .to_owned();
    assert_eq!(
        dry_patch.json(),
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: previewed_at}}}}})
    );
    let preview_text = text_of(&preview);
    assert!(
        preview_text.contains(&format!("restartedAt never {previewed_at}")),
        "the preview shows the change the dry run sent: {preview_text}"
    );
    assert!(preview_text.contains("nothing has changed yet"), "{preview_text}");
    assert_eq!(
        fake.world().deployments["twisterlab-api"]["spec"]["template"]["metadata"]["annotations"]
            [RESTARTED_AT],
        Value::Null,
        "the dry run changed nothing"
    );

    // Without the confirmation's token nothing reaches the cluster.
    let mark = fake.requests().len();
    let confirm = fields(form(&preview, &format!("{restart}/apply")));
    let forged = with(confirm.clone(), "token", "");
    let (status, _, refused) = tab.post(&format!("{restart}/apply"), &forged).await;
    assert_eq!(status, 409, "{refused}");
    assert!(text_of(&refused).contains("Nothing to confirm"), "{refused}");
    assert_eq!(since(&fake, mark), Vec::<String>::new(), "nothing was sent without the confirmation");

    // Confirmed: exactly the restart PATCH.
    tab.submit(&preview, &format!("{restart}/apply"), &[], &run).await;
    let step = [format!("GET {DEPLOYMENT}"), format!("PATCH {DEPLOYMENT}?&fieldManager={FIELD_MANAGER}")];
    assert_eq!(since(&fake, mark), step, "the confirmation sends the restart, once, for real");
    expected.extend(step);
    let patch = fake.recorded().last().cloned().expect("the restart");
    assert_eq!(patch.content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    let restarted_at = patch.json()["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        .as_str()
        .expect("the restart sets the annotation")
        .to_owned();
    assert_eq!(
        patch.json(),
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}})
    );
    // The adapter stamps a restart when it is sent, as kubectl does: the confirmed one is the
    // previewed change, stamped at or after the preview's time.
    assert!(restarted_at >= previewed_at, "{restarted_at} before the previewed {previewed_at}");
    assert_eq!(
        fake.world().deployments["twisterlab-api"]["spec"]["template"]["metadata"]["annotations"]
            [RESTARTED_AT],
        json!(restarted_at),
        "the cluster holds the restart"
    );

    // The new pods come up: one poll still rolling, the next one done.
    {
        let mut world = fake.world();
        let generation = world.deployments["twisterlab-api"]["metadata"]["generation"].clone();
        let rollout = |updated: i64, ready: i64, replicas: i64| {
            json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": updated,
                   "readyReplicas": ready, "availableReplicas": ready,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]})
        };
        world.rollout_script.insert("twisterlab-api".into(), [rollout(1, 3, 4), rollout(3, 3, 3)].into());
    }
    let page = tab.get(&run).await;
    let mark = fake.requests().len();
    let waited = Instant::now();
    tab.submit(&page, &format!("{run}/steps/wait-for-rollout/run"), &[], &run).await;
    assert!(waited.elapsed() < Duration::from_secs(15), "{:?}", waited.elapsed());
    let step = [format!("GET {DEPLOYMENT}"), format!("GET {DEPLOYMENT}")];
    assert_eq!(since(&fake, mark), step, "one read per poll until the rollout is done");
    expected.extend(step);
    let page = tab.get(&run).await;
    let wait = step_text(&page, "wait-for-rollout");
    assert!(wait.contains(&format!("done by {commander}")), "{wait}");
    assert!(wait.contains("deployment \"twisterlab-api\" successfully rolled out"), "{wait}");
    let restart_step = step_text(&page, "restart-api-after-secret");
    assert!(restart_step.contains(&format!("done by {commander}")), "{restart_step}");

    // Resolve.
    let resolve = tab.get(&format!("{incident}/resolve")).await;
    tab.submit(
        &resolve,
        &format!("{incident}/resolve"),
        &[("resolution", "Restarted the API after checking the database secret; the rollout finished.")],
        &incident,
    )
    .await;

    let page = tab.get(&incident).await;
    assert!(page.contains(&format!("href=\"{run}\"")), "the incident links its run");
    assert!(text_of(&page).contains("(4 done, 0 skipped), 0 failed"), "the run's progress shows:\n{page}");

    // The timeline, oldest first: each step with who did it. Paging (nobody is on call here)
    // is the system's and is left out.
    let entries: Vec<Entry> = timeline(&page).into_iter().filter(|e| e.kind != "notified").collect();
    let steps = [
        ("declared", "Declared as P2"),
        (
            "runbook_step",
            "Started the runbook \u{201c}API pods crashing (CrashLoopBackOff)\u{201d} (revision 1)",
        ),
        (
            "kubernetes_action",
            "Describe a pod of deployment twisterlab-api: succeeded. pod twisterlab-api-7d9f8b6c5d-x2x4q",
        ),
        ("runbook_step", "Step \u{201c}Check events\u{201d} of api-pods-crashing: done"),
        (
            "kubernetes_action",
            "Show the last 100 log lines of deployment twisterlab-api containing \"error\": succeeded.",
        ),
        ("runbook_step", "Step \u{201c}Check recent logs\u{201d} of api-pods-crashing: done"),
        ("kubernetes_action", "Restart deployment twisterlab-api (rollout restart) (dry run): succeeded."),
        ("kubernetes_action", "Restart deployment twisterlab-api (rollout restart): succeeded."),
        ("runbook_step", "Step \u{201c}Restart the API\u{201d} of api-pods-crashing: done"),
        ("kubernetes_action", "Wait up to 300 s for the rollout of deployment twisterlab-api: succeeded."),
        ("runbook_step", "Step \u{201c}Wait for the rollout\u{201d} of api-pods-crashing: done"),
        ("resolved", "Resolved after"),
    ];
    assert_eq!(entries.len(), steps.len(), "{entries:#?}");
    for (entry, (kind, says)) in entries.iter().zip(steps) {
        assert_eq!((entry.kind.as_str(), entry.actor.as_str()), (kind, commander.as_str()), "{entry:#?}");
        assert!(entry.text.contains(says), "expected {says:?} in {entry:#?}");
        assert!(!entry.text.contains("{\""), "no raw JSON on the timeline: {entry:#?}");
    }
    assert!(
        entries[7].text.contains(&format!("restartedAt: never \u{2192} {restarted_at}")),
        "the applied restart is on the timeline: {:#?}",
        entries[7]
    );
    assert_eq!(since(&fake, 0), expected, "the fake received exactly these requests");
}
