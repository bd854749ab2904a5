//! Rules the shipped runbooks (`runbooks/*.toml`) must keep: they load, round-trip, follow
//! the operations runbook, keep secrets out, and give every mappable command its action.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;

fn shipped() -> Vec<Runbook> {
    match parse_runbooks(SHIPPED_FILES.iter().map(|f| (f.name, f.text))) {
        Ok(runbooks) => runbooks,
        Err(errors) => {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("shipped runbooks do not load:\n{}", shown.join("\n"));
        }
    }
}

fn by_slug(slug: &str) -> Runbook {
    shipped().into_iter().find(|r| r.slug.as_str() == slug).unwrap_or_else(|| panic!("no runbook {slug}"))
}

fn action_kinds(runbook: &Runbook) -> Vec<Option<ActionKind>> {
    runbook.steps().map(|(_, step)| step.action.as_ref().map(|a| a.action.kind())).collect()
}

#[test]
fn all_ten_shipped_runbooks_load_and_pass_their_checks() {
    let runbooks = shipped();
    let slugs: Vec<&str> = runbooks.iter().map(|r| r.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            "api-pods-crashing",
            "high-api-latency",
            "mcp-tools-not-responding",
            "database-connection-exhaustion",
            "agent-execution-failures",
            "security-breach",
            "planned-maintenance",
            "database-vacuum-analyze",
            "log-rotation-cleanup",
            "capacity-planning",
        ]
    );
    for runbook in &runbooks {
        assert_eq!(runbook.check(), Ok(()), "{}", runbook.slug);
        assert!(runbook.steps().count() >= 3, "{} has its steps", runbook.slug);
        assert_eq!(runbook.revision, Revision::FIRST, "{}", runbook.slug);
    }
}

#[test]
fn the_runbooks_directory_holds_exactly_the_shipped_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 name").to_owned();
            let text = std::fs::read_to_string(&path).expect("readable file");
            let embedded = SHIPPED_FILES.iter().find(|f| f.name == name);
            assert_eq!(embedded.map(|f| f.text), Some(text.as_str()), "{name} is embedded in SHIPPED_FILES");
            on_disk.insert(name);
        }
    }
    let embedded: BTreeSet<String> = SHIPPED_FILES.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(on_disk, embedded);
}

#[test]
fn every_shipped_runbook_survives_writing_and_reading_its_file() {
    for file in SHIPPED_FILES {
        let runbook = parse_runbook(file.name, file.text).expect("loads");
        let written = to_toml(&runbook);
        assert_eq!(parse_runbook(file.name, &written).as_ref(), Ok(&runbook), "{}:\n{written}", file.name);
        assert_eq!(
            to_toml(&parse_runbook(file.name, &written).expect("loads")),
            written,
            "writing is stable"
        );
    }
}

#[test]
fn every_shipped_runbook_round_trips_through_json_with_the_same_digest() {
    for runbook in shipped() {
        let json = serde_json::to_string(&runbook).expect("serializable");
        let back: Runbook = serde_json::from_str(&json).expect("deserializable");
        assert_eq!(back, runbook);
        assert_eq!(back.digest(), runbook.digest());
    }
    let digests: BTreeSet<_> = shipped().iter().map(Runbook::digest).collect();
    assert_eq!(digests.len(), 10, "every runbook has its own digest");
}

/// Every text a runbook shows: summary, symptoms, causes, titles, explanations, commands.
fn texts(runbook: &Runbook) -> Vec<String> {
    let mut all = vec![runbook.summary.clone(), runbook.title.to_string()];
    all.extend(runbook.symptoms.iter().cloned());
    for section in &runbook.sections {
        all.push(section.title.to_string());
        all.extend(section.cause.clone());
        for step in &section.steps {
            all.push(step.title.to_string());
            all.push(step.explanation.clone());
            all.extend(step.command.clone());
            if let Some(action) = &step.action {
                all.push(serde_json::to_string(action).expect("serializable"));
            }
        }
    }
    all
}

#[test]
fn no_shipped_runbook_contains_a_secret_value() {
    for runbook in shipped() {
        for text in texts(&runbook) {
            assert!(!checks::contains_url_credentials(&text), "{}: {text}", runbook.slug);
            // Every literal given to a Secret is a <placeholder>.
            for (at, _) in text.match_indices("--from-literal=") {
                let rest = &text[at..];
                let value =
                    rest.split_once('=').map(|(_, v)| v).and_then(|v| v.split_once('=')).map(|(_, v)| v);
                let value = value.unwrap_or_default().trim_start_matches('\'');
                let placeholder_start = value.split("://").last().unwrap_or(value);
                assert!(
                    value.starts_with('<') || placeholder_start.starts_with('<'),
                    "{}: secret literal is not a placeholder: {rest}",
                    runbook.slug
                );
            }
            assert!(!text.contains("user:pass"), "{}: {text}", runbook.slug);
        }
    }
}

#[test]
fn kubectl_commands_keep_the_twisterlab_namespace() {
    for runbook in shipped() {
        for (_, step) in runbook.steps() {
            let Some(command) = &step.command else { continue };
            // Nodes are not namespaced; an applied manifest names its own namespace.
            let cluster_wide = command.contains("top nodes")
                || command.contains("debug node/")
                || command.contains("apply -f");
            if command.contains("kubectl ") && !cluster_wide {
                assert!(command.contains("-n twisterlab"), "{} {}: {command}", runbook.slug, step.key);
            }
        }
    }
}

#[test]
fn commands_without_a_safe_action_stay_manual_steps() {
    let manual_markers = [
        "kubectl delete secret",
        "kubectl delete networkpolicy",
        "kubectl delete pod",
        "kubectl edit",
        "kubectl debug",
        "kubectl autoscale",
        "alembic",
        "aws s3 cp",
        "pg_dump",
        "VACUUM FULL",
    ];
    for runbook in shipped() {
        for (_, step) in runbook.steps() {
            let Some(command) = &step.command else { continue };
            // `kubectl exec … psql` diagnostics run as database actions; any other exec is manual.
            let other_exec = command.contains("kubectl exec") && !command.contains("psql");
            if other_exec || manual_markers.iter().any(|marker| command.contains(marker)) {
                assert!(step.action.is_none(), "{} {} must stay manual: {command}", runbook.slug, step.key);
            }
        }
    }
}

#[test]
fn every_command_that_maps_to_an_action_has_that_action() {
    use ActionKind as K;
    let mapping: [(&str, &[ActionKind]); 13] = [
        ("kubectl get pods", &[K::ListPods]),
        ("kubectl logs", &[K::Logs]),
        ("kubectl describe pod", &[K::DescribePod]),
        ("kubectl rollout restart", &[K::RolloutRestart]),
        ("kubectl scale", &[K::Scale, K::Isolate]),
        ("kubectl set resources", &[K::SetResources]),
        ("kubectl set env", &[K::SetEnv]),
        ("kubectl set image", &[K::SetImage]),
        ("kubectl annotate", &[K::Annotate]),
        ("kubectl rollout status", &[K::WaitRollout]),
        ("kubectl get svc", &[K::CheckService]),
        ("kubectl get networkpolicies", &[K::ListNetworkPolicies]),
        ("kubectl top pod", &[K::PodUsage]),
    ];
    // Exporting logs to a file for the S3 archive needs the file, which the portal's log
    // view does not produce.
    let exceptions = ["export-logs"];
    for runbook in shipped() {
        for (_, step) in runbook.steps() {
            let Some(command) = &step.command else { continue };
            if exceptions.contains(&step.key.as_str()) || command.contains("kubectl exec") {
                continue;
            }
            for (prefix, kinds) in &mapping {
                if command.trim_start().starts_with(prefix) {
                    let kind = step.action.as_ref().map(|a| a.action.kind());
                    assert!(
                        kind.is_some_and(|k| kinds.contains(&k)),
                        "{} {}: {command} should run as {kinds:?}, has {kind:?}",
                        runbook.slug,
                        step.key
                    );
                }
            }
            if command.contains("pg_stat_activity") {
                let kind = step.action.as_ref().map(|a| a.action.kind());
                assert!(kind.is_some_and(K::uses_target_database), "{} {}", runbook.slug, step.key);
            }
        }
    }
}

#[test]
fn api_pods_crashing_follows_incident_one_of_the_runbook() {
    let rb = by_slug("api-pods-crashing");
    assert_eq!(
        rb.symptoms,
        ["API endpoints returning 502/503", "Pods in CrashLoopBackOff state", "Health check failing"]
    );
    let causes: Vec<_> = rb.sections.iter().filter_map(|s| s.cause.as_deref()).collect();
    assert_eq!(
        causes,
        ["Database connection failure", "OOM (Out of Memory)", "Missing environment variables"]
    );
    let diagnosis = &rb.sections[0];
    assert_eq!(diagnosis.kind, SectionKind::Diagnosis);
    let kinds: Vec<_> = diagnosis.steps.iter().map(|s| s.action.as_ref().map(|a| a.action.kind())).collect();
    assert_eq!(kinds, [Some(ActionKind::ListPods), Some(ActionKind::Logs), Some(ActionKind::DescribePod)]);
    let memory = rb.step(&StepKey::parse("increase-memory-limits").expect("key")).expect("step");
    assert_eq!(
        memory.action.as_ref().map(|a| a.action.clone()),
        Some(Action::SetResources {
            deployment: "twisterlab-api".into(),
            container: None,
            cpu_request: None,
            cpu_limit: None,
            memory_request: Some("1Gi".into()),
            memory_limit: Some("2Gi".into()),
        })
    );
    // The end-to-end journey: describe, logs, restart, wait for the rollout.
    for key in ["check-events", "check-recent-logs", "restart-api-after-secret", "wait-for-rollout"] {
        assert!(
            rb.step(&StepKey::parse(key).expect("key")).and_then(|s| s.action.as_ref()).is_some(),
            "{key}"
        );
    }
    assert_eq!(rb.sections.last().map(|s| s.kind), Some(SectionKind::Prevention));
}

#[test]
fn database_connection_exhaustion_scales_the_api_to_five_replicas_editable() {
    let rb = by_slug("database-connection-exhaustion");
    let scale = rb
        .step(&StepKey::parse("scale-api-pods").expect("key"))
        .and_then(|s| s.action.clone())
        .expect("action");
    assert_eq!(scale.action, Action::Scale { deployment: "twisterlab-api".into(), replicas: 5 });
    assert!(scale.editable.contains("replicas"));
    assert_eq!(
        scale.resolve(&[("replicas".to_owned(), "-1".to_owned())].into()).map(|_| ()).expect_err("bounds")[0]
            .field,
        "replicas"
    );
    let kinds = action_kinds(&rb);
    assert_eq!(&kinds[..2], [Some(ActionKind::DbConnections), Some(ActionKind::DbIdleConnections)]);
    let idle = rb
        .steps()
        .find_map(|(_, s)| s.action.clone().filter(|a| a.action.kind() == ActionKind::DbIdleConnections));
    assert_eq!(idle.map(|a| a.action), Some(Action::DbIdleConnections { min_minutes: 10 }));
}

#[test]
fn high_latency_looks_for_queries_slower_than_five_seconds() {
    let rb = by_slug("high-api-latency");
    assert!(rb.steps().any(|(_, s)| {
        s.action.as_ref().is_some_and(|a| a.action == Action::DbLongQueries { min_seconds: 5 })
    }));
    let causes: Vec<_> = rb.sections.iter().filter_map(|s| s.cause.as_deref()).collect();
    assert_eq!(
        causes,
        [
            "Database connection pool exhausted",
            "N+1 query problem",
            "Missing database indexes",
            "Redis cache miss"
        ]
    );
}

#[test]
fn mcp_tools_fixes_set_the_api_url_and_real_mode_on_mcp_unified() {
    let rb = by_slug("mcp-tools-not-responding");
    let env: Vec<_> = rb
        .steps()
        .filter_map(|(_, s)| match s.action.as_ref().map(|a| &a.action) {
            Some(Action::SetEnv { deployment, name, value, .. }) => {
                Some((deployment.as_str(), name.as_str(), value.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        env,
        [("mcp-unified", "API_URL", "http://twisterlab-api:8000"), ("mcp-unified", "MCP_MODE", "REAL")]
    );
}

#[test]
fn the_security_procedure_isolates_first_and_isolation_needs_a_manager() {
    let rb = by_slug("security-breach");
    let titles: Vec<_> = rb.sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "1. Isolate affected systems",
            "2. Preserve evidence",
            "3. Rotate all secrets",
            "4. Notify stakeholders"
        ]
    );
    let first = &rb.sections[0].steps[0];
    assert_eq!(
        first.action.as_ref().map(|a| a.action.clone()),
        Some(Action::Isolate { deployment: "twisterlab-api".into() })
    );
    assert_eq!(first.required_role(), Role::Manager);
    let notified: Vec<_> = rb.sections[3].steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        notified,
        ["Notify the security team", "Notify management", "Notify customers (if data breach)"]
    );
}

#[test]
fn planned_maintenance_has_the_checklist_and_the_seven_steps_in_order() {
    let rb = by_slug("planned-maintenance");
    assert_eq!(rb.sections[0].kind, SectionKind::Checklist);
    assert_eq!(rb.sections[0].steps.len(), 5);
    let procedure: Vec<Option<Action>> =
        rb.sections[1].steps.iter().map(|s| s.action.as_ref().map(|a| a.action.clone())).collect();
    let api = || "twisterlab-api".to_owned();
    assert_eq!(
        procedure,
        [
            Some(Action::Scale { deployment: api(), replicas: 0 }),
            None,
            None,
            Some(Action::SetImage {
                deployment: api(),
                container: Some(api()),
                image: "twisterlab-api:v2.0".into()
            }),
            Some(Action::Scale { deployment: api(), replicas: 3 }),
            Some(Action::WaitRollout { deployment: api(), timeout_seconds: 600 }),
            Some(Action::HealthCheck { service: api() }),
            Some(Action::Annotate { deployment: api(), key: "maintenance".into(), value: "complete".into() }),
        ]
    );
    let numbered: BTreeSet<_> =
        rb.sections[1].steps.iter().filter_map(|s| s.title.as_str().split('.').next()).collect();
    assert_eq!(numbered, ["1", "2", "3", "4", "5", "6", "7"].into_iter().collect());
}

#[test]
fn vacuum_runs_online_on_a_chosen_table_and_leaves_full_vacuum_manual() {
    let rb = by_slug("database-vacuum-analyze");
    assert_eq!(action_kinds(&rb), [Some(ActionKind::DbTableSizes), Some(ActionKind::DbVacuumAnalyze), None]);
    let vacuum =
        rb.steps().find_map(|(_, s)| s.action.clone().filter(|a| a.action.changes())).expect("vacuum");
    assert!(vacuum.editable.contains("table"));
    assert_eq!(vacuum.action.min_role(), Role::Commander);
    assert!(rb.summary.contains("Weekly") || rb.summary.contains("weekly"));
}

#[test]
fn log_cleanup_and_capacity_planning_follow_the_runbook() {
    let logs = by_slug("log-rotation-cleanup");
    assert!(action_kinds(&logs).iter().all(Option::is_none), "every log cleanup command is manual");
    let capacity = by_slug("capacity-planning");
    let kinds: BTreeSet<_> = action_kinds(&capacity).into_iter().flatten().collect();
    assert_eq!(
        kinds,
        [ActionKind::PodUsage, ActionKind::PrometheusQuery, ActionKind::Scale, ActionKind::SetResources]
            .into_iter()
            .collect()
    );
}

#[test]
fn signals_suggest_the_matching_shipped_runbook_first() {
    let runbooks = shipped();
    let first = |signals: &[Signal]| suggest(signals, &runbooks).first().map(|s| s.slug.to_string());
    assert_eq!(
        first(&[Signal::PodCrashLoop { deployment: "twisterlab-api".into() }]).as_deref(),
        Some("api-pods-crashing")
    );
    assert_eq!(
        first(&[Signal::PodOomKilled { deployment: "twisterlab-api".into() }]).as_deref(),
        Some("api-pods-crashing")
    );
    assert_eq!(
        first(&[Signal::DbConnectionsHigh { observed_bp: 9_000, threshold_bp: 8_000 }]).as_deref(),
        Some("database-connection-exhaustion")
    );
    assert_eq!(
        first(&[Signal::McpModeHybrid { deployment: "mcp-unified".into() }]).as_deref(),
        Some("mcp-tools-not-responding")
    );
    assert_eq!(
        first(&[Signal::AgentSuccessRateLow { observed_bp: 9_000, threshold_bp: 9_500 }]).as_deref(),
        Some("agent-execution-failures")
    );
    assert_eq!(
        first(&[Signal::LatencyP95High { observed_ms: 900, threshold_ms: 500 }]).as_deref(),
        Some("high-api-latency")
    );
    assert_eq!(
        first(&[Signal::CpuHigh {
            deployment: Some("twisterlab-api".into()),
            observed_bp: 8_000,
            threshold_bp: 7_000
        }])
        .as_deref(),
        Some("capacity-planning")
    );
    let crash = suggest(&[Signal::PodCrashLoop { deployment: "mcp-unified".into() }], &runbooks);
    assert_eq!(crash.first().map(|s| s.slug.as_str()), Some("mcp-tools-not-responding"));
    assert!(suggest(&[], &runbooks).is_empty());
}

#[test]
fn only_changing_steps_need_more_than_a_responder() {
    for runbook in shipped() {
        for (_, step) in runbook.steps() {
            assert_eq!(
                step.required_role() > Role::Responder,
                step.changes(),
                "{} {}",
                runbook.slug,
                step.key
            );
        }
    }
}
