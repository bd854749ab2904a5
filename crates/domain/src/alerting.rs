//! Prometheus Alertmanager alerts into incidents: the mappings an admin configures (severity
//! label → severity, grouping labels, service → component) and the rules that use them.

use std::collections::BTreeMap;

use crate::severity::Severity;

/// The webhook payload version the receiver accepts.
pub const WEBHOOK_VERSION: &str = "4";
/// Most alerts in one delivery.
pub const MAX_ALERTS: usize = 1000;
/// Longest fingerprint (Alertmanager sends 16 hex digits).
pub const MAX_FINGERPRINT: usize = 64;
/// Most labels or annotations on one alert, and their longest key and value.
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_NAME: usize = 128;
pub const MAX_LABEL_VALUE: usize = 4096;

/// `critical=P1,warning=P3` → pairs; an error names the bad entry.
pub fn parse_severity_map(text: &str) -> Result<Vec<(String, Severity)>, String> {
    let mut out: Vec<(String, Severity)> = vec![];
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (label, severity) = entry
            .split_once('=')
            .ok_or_else(|| format!("{entry:?}: write label value=severity, e.g. critical=P1"))?;
        let severity = severity
            .trim()
            .parse::<Severity>()
            .map_err(|_| format!("{entry:?}: the severity must be P0, P1, P2 or P3"))?;
        let label = label.trim().to_owned();
        if label.is_empty() || out.iter().any(|(l, _)| *l == label) {
            return Err(format!("{entry:?}: each label value once, not empty"));
        }
        out.push((label, severity));
    }
    Ok(out)
}

/// `twisterlab-api=API` → pairs (label value → component name).
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = vec![];
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, v) = entry.split_once('=').ok_or_else(|| format!("{entry:?}: write value=Component"))?;
        let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
        if k.is_empty() || v.is_empty() || out.iter().any(|(x, _)| *x == k) {
            return Err(format!("{entry:?}: each value once, neither side empty"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// `alertname,service` → label names.
pub fn parse_group_by(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Err("name at least one label to group by, e.g. alertname,service".into());
    }
    if let Some(bad) = names.iter().find(|n| !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Err(format!("{bad:?} is not a Prometheus label name"));
    }
    Ok(names)
}

/// The severity of an alert: its `severity` label through the mapping; unknown or missing → P3.
pub fn severity_of(labels: &BTreeMap<String, String>, map: &[(String, Severity)]) -> Severity {
    labels
        .get("severity")
        .and_then(|s| map.iter().find(|(label, _)| label.eq_ignore_ascii_case(s.trim())))
        .map(|(_, severity)| *severity)
        .unwrap_or(Severity::P3)
}

/// The group an alert belongs to: the grouping labels' values (missing ones empty), as
/// `alertname="HighLatency",service="api"`. Alerts with the same key share one open incident.
pub fn group_key(labels: &BTreeMap<String, String>, group_by: &[String]) -> String {
    group_by
        .iter()
        .map(|name| format!("{name}={:?}", labels.get(name).map(String::as_str).unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",")
}

/// The component names an alert names: its `component` label, else the mapping of its
/// `service` label.
pub fn component_of(labels: &BTreeMap<String, String>, map: &[(String, String)]) -> Option<String> {
    if let Some(c) = labels.get("component").map(|c| c.trim()).filter(|c| !c.is_empty()) {
        return Some(c.to_owned());
    }
    let service = labels.get("service")?;
    map.iter().find(|(s, _)| s == service).map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn severities_map_through_the_label_and_unknown_is_p3() {
        let map = parse_severity_map("critical=P1, warning = P3,page=P0").expect("valid");
        assert_eq!(severity_of(&labels(&[("severity", "critical")]), &map), Severity::P1);
        assert_eq!(severity_of(&labels(&[("severity", "PAGE")]), &map), Severity::P0);
        assert_eq!(severity_of(&labels(&[("severity", "whatever")]), &map), Severity::P3);
        assert_eq!(severity_of(&labels(&[]), &map), Severity::P3);
        assert!(parse_severity_map("critical=P9").is_err());
        assert!(parse_severity_map("critical").is_err());
        assert!(parse_severity_map("a=P1,a=P2").is_err());
    }

    #[test]
    fn alerts_group_by_the_configured_labels() {
        let by = parse_group_by("alertname, service").expect("valid");
        let a = labels(&[("alertname", "HighLatency"), ("service", "api"), ("pod", "a")]);
        let b = labels(&[("alertname", "HighLatency"), ("service", "api"), ("pod", "b")]);
        let c = labels(&[("alertname", "HighLatency"), ("service", "db")]);
        assert_eq!(group_key(&a, &by), group_key(&b, &by));
        assert_ne!(group_key(&a, &by), group_key(&c, &by));
        assert_eq!(group_key(&a, &by), r#"alertname="HighLatency",service="api""#);
        assert!(parse_group_by("").is_err());
        assert!(parse_group_by("alert-name").is_err());
    }

    #[test]
    fn the_component_label_wins_over_the_service_mapping() {
        let map = parse_pairs("twisterlab-api=API").expect("valid");
        assert_eq!(component_of(&labels(&[("service", "twisterlab-api")]), &map).as_deref(), Some("API"));
        assert_eq!(
            component_of(&labels(&[("service", "twisterlab-api"), ("component", "Database")]), &map)
                .as_deref(),
            Some("Database")
        );
        assert_eq!(component_of(&labels(&[("service", "other")]), &map), None);
    }
}
