//! The 390 px phone in headless Chromium: the overview, an incident with long unbroken text
//! (JSON in a note, a long URL) and the status page scroll only vertically, and the header takes
//! less than a quarter of the screen.

use fantoccini::Locator;
use serde_json::json;

use crate::status_page::{CHROMIUM, start_chromedriver};
use crate::support::{PASSWORD, Portal, create_user, fresh_database, hidden_value, signed_in};

/// What the layout measures on one page: scroll width, viewport width, header height, viewport
/// height.
/// height, and the elements that stick out (to name the culprit when one does).
const MEASURE: &str = "const w = document.documentElement.clientWidth; \
     const over = e => e.getBoundingClientRect().right > w + 1; \
     const out = [...document.querySelectorAll('body *')].filter(e => over(e) && !(e.parentElement && over(e.parentElement))) \
       .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)); \
     return [document.documentElement.scrollWidth, w, \
     (document.querySelector('header') || document.body).getBoundingClientRect().height, document.documentElement.clientHeight, out.join(' | ')];";

#[tokio::test]
async fn at_390_px_the_overview_incident_and_status_pages_have_no_horizontal_scroll() {
    let url = fresh_database().await;
    let portal = Portal::start_with(&url, &[]).await;

    // An incident with text that does not break by itself.
    let commander = signed_in(&portal, "commander").await;
    let form =
        commander.get(portal.url("/incidents/new")).send().await.expect("GET").text().await.expect("body");
    let csrf = hidden_value(&form, "csrf_token");
    let unbroken = "x".repeat(150);
    let response = commander
        .post(portal.url("/incidents"))
        .header("origin", &portal.base)
        .form(&[("csrf_token", csrf.as_str()), ("title", unbroken.as_str()), ("severity", "P2")])
        .send()
        .await
        .expect("declare");
    assert_eq!(response.status(), 303);
    let incident = response.headers()["location"].to_str().expect("ascii").to_owned();
    let blob = json!({"error": "connection_refused", "target": "https://twisterlab-api.internal.example/v1/agents/very/long/path/segment/that/goes/on/and/on?with=query&and=more&parameters=all_the_way_to_the_edge", "trace": "a".repeat(300)});
    let note = format!(
        "Probe answer: `{blob}`\n\n```\n{blob}\n```\n\nhttps://grafana.example/d/{}",
        "z".repeat(200)
    );
    let response = commander
        .post(portal.url(&format!("{incident}/notes")))
        .header("origin", &portal.base)
        .form(&[("csrf_token", csrf.as_str()), ("body", note.as_str())])
        .send()
        .await
        .expect("note");
    assert_eq!(response.status(), 303);

    let email = format!("phone-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    create_user(&portal.database_url, &email, "responder", PASSWORD);

    let driver = start_chromedriver().await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [format!("--user-data-dir={}", driver.scratch.path().join("profile").display()),
                     "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-quic", "--hide-scrollbars"],
            // Chromium's windows are at least 500 px wide: a phone is emulated instead.
            "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0}}
        }),
    );
    let browser = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with headless Chromium");
    let result = async {
        browser.goto(&portal.url("/login")).await?;
        browser.find(Locator::Id("email")).await?.send_keys(&email).await?;
        browser.find(Locator::Id("password")).await?.send_keys(PASSWORD).await?;
        browser.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
        let mut measured = vec![];
        for page in ["/", incident.as_str(), "/status"] {
            browser.goto(&portal.url(page)).await?;
            let heading = browser.find(Locator::Css("h1")).await?.text().await?;
            let values = browser.execute(MEASURE, vec![]).await?;
            measured.push((page.to_owned(), heading, values));
        }
        Ok::<_, fantoccini::error::CmdError>(measured)
    }
    .await;
    let _ = browser.close().await;
    drop(driver);
    let measured = result.expect("the pages load in Chromium");
    for (page, heading, values) in measured {
        let n = |i: usize| values[i].as_f64().unwrap_or_else(|| panic!("{page}: {values}"));
        let (scroll, width, header, height) = (n(0), n(1), n(2), n(3));
        assert!(width <= 400.0, "{page}: the viewport is a phone's ({width} px)");
        assert!(
            scroll <= width,
            "{page} ({heading:?}) scrolls sideways: {scroll} px of content in {width} px; sticking out: {}",
            values[4]
        );
        assert!(header < height / 4.0, "{page}: the header takes {header} of {height} px");
    }
}
