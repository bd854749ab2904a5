//! `k8s/role.yaml` grants exactly the requests in `API_REQUESTS`: the RBAC is as wide as
//! the code, no wider (nothing unused stays granted) and no narrower (no action fails with
//! a 403 in production).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use twisterlab_k8s::API_REQUESTS;

/// (group, resource, verb) → resourceNames (empty: any name).
type Grants = BTreeMap<(String, String, String), BTreeSet<String>>;

fn role_yaml() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/role.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn strings(rule: &Value, key: &str) -> Vec<String> {
    match rule.get(key) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_else(|| panic!("{key} entries are strings: {rule}")).to_owned())
            .collect(),
        Some(other) => panic!("{key} is a list: {other}"),
    }
}

fn granted() -> Grants {
    let role: Value = serde_yaml_ng::from_str(&role_yaml()).expect("k8s/role.yaml is YAML");
    assert_eq!(role["kind"], "Role", "a namespaced Role, never a ClusterRole");
    let rules = role["rules"].as_array().expect("rules");
    let mut grants = Grants::new();
    for rule in rules {
        assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
        let names: BTreeSet<String> = strings(rule, "resourceNames").into_iter().collect();
        for group in strings(rule, "apiGroups") {
            for resource in strings(rule, "resources") {
                for verb in strings(rule, "verbs") {
                    let key = (group.clone(), resource.clone(), verb);
                    assert!(
                        grants.insert(key.clone(), names.clone()).is_none(),
                        "{key:?} is granted by two rules; keep one"
                    );
                }
            }
        }
    }
    grants
}

fn wanted() -> Grants {
    API_REQUESTS
        .iter()
        .map(|r| {
            (
                (r.group.to_owned(), r.resource.to_owned(), r.verb.to_owned()),
                r.resource_names.iter().map(|n| (*n).to_owned()).collect(),
            )
        })
        .collect()
}

#[test]
fn the_role_grants_exactly_the_adapters_requests() {
    let granted = granted();
    let wanted = wanted();
    let extra: Vec<_> = granted.keys().filter(|k| !wanted.contains_key(*k)).collect();
    let missing: Vec<_> = wanted.keys().filter(|k| !granted.contains_key(*k)).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "k8s/role.yaml and twisterlab_k8s::API_REQUESTS differ.\n  granted but never requested: {extra:?}\n  \
         requested but not granted: {missing:?}"
    );
    for (key, names) in &wanted {
        assert_eq!(&granted[key], names, "resourceNames of {key:?} must be exactly the adapter's");
    }
}

#[test]
fn the_role_grants_nothing_broad() {
    for ((group, resource, verb), names) in granted() {
        for part in [&group, &resource, &verb] {
            assert!(!part.contains('*'), "no wildcards: {group} {resource} {verb}");
        }
        assert!(
            !["watch", "create", "update", "deletecollection", "escalate", "bind", "impersonate"]
                .contains(&verb.as_str())
        );
        assert_ne!(resource, "pods/exec", "no exec");
        if resource == "secrets" {
            assert_eq!(verb, "get", "listing secrets returns every value");
            assert!(!names.is_empty(), "secret reads are limited by name");
            assert!(!names.contains("twisterlab-portal-secrets"), "never the portal's own secrets");
        }
    }
}

#[test]
fn every_rule_says_which_action_uses_it() {
    let text = role_yaml();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            let above = i.checked_sub(1).map(|j| lines[j].trim_start());
            assert!(
                above.is_some_and(|l| l.starts_with('#')),
                "rule at line {} has no comment above it",
                i + 1
            );
        }
    }
}
