//! The first start in headless Chromium, JavaScript on and off: the admin's checklist on the
//! overview leads to each admin page, the Admin menu reaches the admin index, and with scripts
//! on the overview says when it last checked for changes.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::json;

use crate::status_page::{CHROMIUM, start_chromedriver};
use crate::support::{PASSWORD, Portal, create_user, fresh_database};

async fn walk_the_checklist(javascript: bool) {
    let url = fresh_database().await;
    let portal = Portal::start_with(&url, &[]).await;
    let email = format!("first-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    create_user(&portal.database_url, &email, "admin", PASSWORD);

    let driver = start_chromedriver().await;
    let mut options = json!({
        "binary": CHROMIUM,
        "args": [format!("--user-data-dir={}", driver.scratch.path().join("profile").display()),
                 "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"],
    });
    if !javascript {
        options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
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
        browser.goto(&portal.url("/")).await?;
        let heading = browser.find(Locator::Css("#checklist-title")).await?.text().await?;
        let mut hrefs = vec![];
        for link in browser.find_all(Locator::Css("#first-run-checklist ol.checklist a")).await? {
            hrefs.push(link.attr("href").await?.unwrap_or_default());
        }
        // Each item's link opens its admin page (a click, as a person would).
        let mut opened = vec![];
        for href in &hrefs {
            browser.goto(&portal.url("/")).await?;
            browser
                .find(Locator::Css(&format!("#first-run-checklist a[href='{href}']")))
                .await?
                .click()
                .await?;
            let landed = browser.current_url().await?;
            let h1 = browser.find(Locator::Css("h1")).await?.text().await?;
            opened.push((href.clone(), landed.path().to_owned(), h1));
        }
        // The Admin menu entry reaches the index of admin pages.
        browser.goto(&portal.url("/")).await?;
        browser.find(Locator::Css("nav.areas a[href='/admin']")).await?.click().await?;
        let admin_h1 = browser.find(Locator::Css("h1")).await?.text().await?;
        let admin_links = browser.find_all(Locator::Css("ul.admin-pages a")).await?.len();

        // The refresh line: shown and ticking with scripts, absent without.
        browser.goto(&portal.url("/")).await?;
        let live = browser.find(Locator::Id("live")).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut live_text = String::new();
        loop {
            if live.is_displayed().await? {
                live_text = live.text().await?;
                if live_text.contains("Updated") {
                    break;
                }
            }
            if Instant::now() > deadline || !javascript {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let live_shown = live.is_displayed().await?;
        Ok::<_, fantoccini::error::CmdError>((
            heading,
            hrefs,
            opened,
            admin_h1,
            admin_links,
            live_shown,
            live_text,
        ))
    }
    .await;
    let _ = browser.close().await;
    drop(driver);
    let (heading, hrefs, opened, admin_h1, admin_links, live_shown, live_text) =
        result.expect("the pages load in Chromium");
    assert!(heading.starts_with("Set up the portal:") && heading.ends_with("of 6 done"), "{heading:?}");
    assert_eq!(
        hrefs,
        [
            "/admin/components",
            "/admin/services",
            "/admin/users",
            "/oncall/rotations/responders",
            "/admin/channels",
            "/admin/sla"
        ]
    );
    for (href, landed, h1) in opened {
        assert_eq!(landed, href, "the link {href} opens its page");
        assert!(!h1.is_empty() && !h1.contains("Not Found") && !h1.contains("Forbidden"), "{href}: {h1:?}");
    }
    assert_eq!(admin_h1, "Admin");
    assert!(admin_links >= 10, "every admin page is listed: {admin_links}");
    if javascript {
        assert!(
            live_shown && live_text.contains("Updated"),
            "the overview says when it checked: {live_text:?}"
        );
        assert!(live_text.contains("Turn updates off"), "and can be turned off: {live_text:?}");
    } else {
        assert!(!live_shown, "without scripts nothing pretends to update");
    }
}

#[tokio::test]
async fn on_a_fresh_start_the_checklist_leads_to_each_admin_page_with_javascript_on() {
    walk_the_checklist(true).await;
}

#[tokio::test]
async fn on_a_fresh_start_the_checklist_leads_to_each_admin_page_with_javascript_off() {
    walk_the_checklist(false).await;
}
