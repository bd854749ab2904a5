//! Services with their EndpointSlices, Ingress routes, NetworkPolicies and ConfigMaps.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::Selector;

use crate::model::{ConfigMapData, EndpointAddress, IngressRoute, NetworkPolicySummary, ServiceEndpoints};

/// `service` and the addresses its `slices` list (the slices labelled with its name).
pub(crate) fn service_endpoints(service: &Service, slices: &[EndpointSlice]) -> ServiceEndpoints {
    let spec = service.spec.as_ref();
    let mut addresses: Vec<EndpointAddress> = slices
        .iter()
        .flat_map(|slice| &slice.endpoints)
        .flat_map(|endpoint| {
            // The API defines an unset `ready` as ready.
            let ready = endpoint.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            let pod = endpoint
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.clone());
            endpoint.addresses.iter().map(move |address| EndpointAddress {
                address: address.clone(),
                ready,
                pod: pod.clone(),
                node: endpoint.node_name.clone(),
            })
        })
        .collect();
    addresses.sort_by(|a, b| a.address.cmp(&b.address));
    let ready = count(addresses.iter().filter(|a| a.ready));
    ServiceEndpoints {
        service: service.metadata.name.clone().unwrap_or_default(),
        type_: spec.and_then(|s| s.type_.clone()).unwrap_or_else(|| "ClusterIP".to_owned()),
        cluster_ip: spec.and_then(|s| s.cluster_ip.clone()),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .map(|p| {
                let target = match &p.target_port {
                    Some(IntOrString::Int(port)) => port.to_string(),
                    Some(IntOrString::String(name)) => name.clone(),
                    None => p.port.to_string(),
                };
                let protocol = p.protocol.as_deref().unwrap_or("TCP");
                let name = p.name.as_deref().map(|n| format!("{n} ")).unwrap_or_default();
                format!("{name}{}→{target}/{protocol}", p.port)
            })
            .collect(),
        selector: spec
            .and_then(|s| s.selector.as_ref())
            .filter(|s| !s.is_empty())
            .map(|s| s.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")),
        not_ready: count(addresses.iter().filter(|a| !a.ready)),
        ready,
        addresses,
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// Whether a Service `selector` picks pods labelled `labels`. An empty selector picks no pods
/// (its endpoints are managed by hand).
pub(crate) fn service_selects(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

/// A label selector as `kubectl get -l` takes it, or `all pods` for the empty one.
pub(crate) fn selector_text(selector: Option<&LabelSelector>) -> String {
    match selector.cloned().map(Selector::try_from) {
        None => "all pods".to_owned(),
        Some(Ok(selector)) if selector.selects_all() => "all pods".to_owned(),
        Some(Ok(selector)) => selector.to_string(),
        Some(Err(err)) => format!("unreadable selector ({err})"),
    }
}

/// The hosts an Ingress serves and every Service it routes to.
pub(crate) fn ingress_route(ingress: &Ingress) -> IngressRoute {
    let spec = ingress.spec.as_ref();
    let rules = spec.and_then(|s| s.rules.as_deref()).unwrap_or_default();
    let hosts: BTreeSet<String> = rules.iter().filter_map(|r| r.host.clone()).collect();
    let services: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| r.http.as_ref())
        .flat_map(|http| &http.paths)
        .map(|path| &path.backend)
        .chain(spec.and_then(|s| s.default_backend.as_ref()))
        .filter_map(|backend| backend.service.as_ref().map(|s| s.name.clone()))
        .collect();
    IngressRoute {
        name: ingress.metadata.name.clone().unwrap_or_default(),
        hosts: hosts.into_iter().collect(),
        services: services.into_iter().collect(),
    }
}

/// Summarises a NetworkPolicy.
pub(crate) fn network_policy_summary(policy: &NetworkPolicy) -> NetworkPolicySummary {
    let spec = policy.spec.as_ref();
    let ingress_rules = spec.and_then(|s| s.ingress.as_ref()).map_or(0, Vec::len);
    let egress_rules = spec.and_then(|s| s.egress.as_ref()).map_or(0, Vec::len);
    let policy_types = match spec.and_then(|s| s.policy_types.clone()) {
        Some(types) if !types.is_empty() => types,
        // What the API server assumes when the policy does not say.
        _ if egress_rules > 0 => vec!["Ingress".to_owned(), "Egress".to_owned()],
        _ => vec!["Ingress".to_owned()],
    };
    NetworkPolicySummary {
        name: policy.metadata.name.clone().unwrap_or_default(),
        pod_selector: selector_text(spec.and_then(|s| s.pod_selector.as_ref())),
        policy_types,
        ingress_rules: u32::try_from(ingress_rules).unwrap_or(u32::MAX),
        egress_rules: u32::try_from(egress_rules).unwrap_or(u32::MAX),
    }
}

/// A ConfigMap's text data and the keys of its binary data.
pub(crate) fn config_map_data(config_map: &ConfigMap) -> ConfigMapData {
    ConfigMapData {
        name: config_map.metadata.name.clone().unwrap_or_default(),
        data: config_map.data.clone().unwrap_or_default(),
        binary_keys: config_map.binary_data.as_ref().map(|b| b.keys().cloned().collect()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use kube::core::ObjectList;

    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).expect("fixture parses as a k8s-openapi object")
    }

    #[test]
    fn service_endpoints_count_ready_and_not_ready_addresses() {
        let service: Service = fixture(include_str!("../../fixtures/service_api.json"));
        let slices: ObjectList<EndpointSlice> =
            fixture(include_str!("../../fixtures/endpointslices_api.json"));
        let endpoints = service_endpoints(&service, &slices.items);
        assert_eq!(endpoints.service, "twisterlab-api");
        assert_eq!(endpoints.type_, "ClusterIP");
        assert_eq!(endpoints.cluster_ip.as_deref(), Some("10.96.14.20"));
        assert_eq!(endpoints.ports, ["http 8000→http/TCP"]);
        assert_eq!(endpoints.selector.as_deref(), Some("app=twisterlab-api"));
        assert_eq!((endpoints.ready, endpoints.not_ready), (2, 1));
        assert_eq!(
            endpoints.addresses[0],
            EndpointAddress {
                address: "10.244.1.17".into(),
                ready: true,
                pod: Some("twisterlab-api-7d9f8b6c5d-m8k2p".into()),
                node: Some("worker-1".into()),
            }
        );
        let not_ready: Vec<_> =
            endpoints.addresses.iter().filter(|a| !a.ready).map(|a| a.address.as_str()).collect();
        assert_eq!(not_ready, ["10.244.2.31"]);
    }

    #[test]
    fn a_service_without_endpoint_slices_has_no_addresses() {
        let service: Service = fixture(include_str!("../../fixtures/service_api.json"));
        let endpoints = service_endpoints(&service, &[]);
        assert_eq!((endpoints.ready, endpoints.not_ready), (0, 0));
        assert!(endpoints.addresses.is_empty());
    }

    #[test]
    fn an_endpoint_without_a_ready_condition_counts_as_ready() {
        let service: Service = fixture(r#"{"metadata":{"name":"ext"},"spec":{"ports":[{"port":443}]}}"#);
        let slice: EndpointSlice = fixture(
            r#"{"metadata":{"name":"ext-1"},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.10"]}]}"#,
        );
        let endpoints = service_endpoints(&service, &[slice]);
        assert_eq!((endpoints.ready, endpoints.not_ready), (1, 0));
        assert_eq!(endpoints.selector, None, "no selector: endpoints managed by hand");
        assert_eq!(endpoints.ports, ["443→443/TCP"]);
    }

    #[test]
    fn network_policies_are_summarised_with_their_effective_types() {
        let list: ObjectList<NetworkPolicy> = fixture(include_str!("../../fixtures/networkpolicies.json"));
        let summaries: Vec<_> = list.items.iter().map(network_policy_summary).collect();
        assert_eq!(
            summaries,
            [
                NetworkPolicySummary {
                    name: "default-deny".into(),
                    pod_selector: "all pods".into(),
                    policy_types: vec!["Ingress".into(), "Egress".into()],
                    ingress_rules: 0,
                    egress_rules: 0,
                },
                NetworkPolicySummary {
                    name: "twisterlab-api".into(),
                    pod_selector: "app=twisterlab-api".into(),
                    policy_types: vec!["Ingress".into(), "Egress".into()],
                    ingress_rules: 2,
                    egress_rules: 1,
                },
                NetworkPolicySummary {
                    name: "mcp-from-api".into(),
                    pod_selector: "app=mcp-unified,tier in (backend,tools)".into(),
                    policy_types: vec!["Ingress".into()],
                    ingress_rules: 1,
                    egress_rules: 0,
                },
            ]
        );
    }

    #[test]
    fn ingress_route_lists_hosts_and_every_backend_service() {
        let ingress: Ingress = fixture(include_str!("../../fixtures/ingress_twisterlab.json"));
        assert_eq!(
            ingress_route(&ingress),
            IngressRoute {
                name: "twisterlab-ingress".into(),
                hosts: vec!["api.twisterlab.local".into()],
                services: vec!["mcp-unified".into(), "twisterlab-api".into()],
            }
        );
    }

    #[test]
    fn a_service_selects_pods_carrying_all_its_labels() {
        let labels: BTreeMap<String, String> =
            [("app".to_owned(), "twisterlab-api".to_owned()), ("tier".to_owned(), "web".to_owned())].into();
        let api: BTreeMap<String, String> = [("app".to_owned(), "twisterlab-api".to_owned())].into();
        let other: BTreeMap<String, String> = [("app".to_owned(), "postgres".to_owned())].into();
        assert!(service_selects(&api, &labels));
        assert!(!service_selects(&other, &labels));
        assert!(!service_selects(&BTreeMap::new(), &labels), "an empty selector picks nothing");
    }

    #[test]
    fn config_map_values_are_shown_and_binary_values_only_named() {
        let config_map: ConfigMap = fixture(include_str!("../../fixtures/configmap_twisterlab_config.json"));
        let data = config_map_data(&config_map);
        assert_eq!(data.name, "twisterlab-config");
        assert_eq!(data.data.get("API_URL").map(String::as_str), Some("http://twisterlab-api:8000"));
        assert_eq!(data.data.len(), 3);
        assert_eq!(data.binary_keys, ["logo.png"]);
    }
}
