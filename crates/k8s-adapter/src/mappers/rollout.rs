//! A deployment's rollout as a snapshot, decided by the rules of `kubectl rollout status`.

use k8s_openapi::api::apps::v1::Deployment;

use crate::model::{RolloutCondition, RolloutProgress, RolloutStatus};

/// The rollout snapshot of `deployment`.
///
/// Until the controller has observed the latest generation nothing else counts (the
/// conditions may still describe the previous rollout). Then, like kubectl: a
/// `ProgressDeadlineExceeded` Progressing condition is a failure; fewer updated replicas than
/// desired, old replicas still there, or updated replicas not yet available are progress;
/// otherwise the rollout is done.
pub(crate) fn rollout_status(deployment: &Deployment) -> RolloutStatus {
    let status = deployment.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let progressing = conditions.iter().find(|c| c.type_ == "Progressing");
    let replica_failure = conditions
        .iter()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        .map(|c| c.message.clone().or_else(|| c.reason.clone()).unwrap_or_else(|| c.type_.clone()));

    let generation = deployment.metadata.generation.unwrap_or(0);
    let observed_generation = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let current = status.and_then(|s| s.replicas).unwrap_or(0);
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);

    let in_progress = |waiting_for: String| RolloutProgress::InProgress { waiting_for };
    let progress = if observed_generation < generation {
        in_progress("the deployment controller has not yet seen the latest change".to_owned())
    } else if let Some(deadline) =
        progressing.filter(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    {
        RolloutProgress::Failed {
            reason: "ProgressDeadlineExceeded".to_owned(),
            message: deadline
                .message
                .clone()
                .unwrap_or_else(|| "the rollout exceeded its progress deadline".to_owned()),
        }
    } else if updated < desired {
        in_progress(format!("{updated} out of {desired} new replicas have been updated"))
    } else if current > updated {
        in_progress(format!("{} old replicas are pending termination", current - updated))
    } else if available < updated {
        in_progress(format!("{available} of {updated} updated replicas are available"))
    } else {
        RolloutProgress::Done
    };

    RolloutStatus {
        deployment: deployment.metadata.name.clone().unwrap_or_default(),
        generation,
        observed_generation,
        desired,
        current,
        updated,
        ready,
        available,
        progressing: progressing.map(|c| RolloutCondition {
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        }),
        replica_failure,
        progress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(json: &str) -> Deployment {
        serde_json::from_str(json).expect("fixture parses as a Deployment")
    }

    #[test]
    fn exceeded_progress_deadline_is_a_failed_rollout_with_its_reason() {
        let status = rollout_status(&deployment(include_str!("../../fixtures/deployment_stalled.json")));
        assert_eq!(
            status.progress,
            RolloutProgress::Failed {
                reason: "ProgressDeadlineExceeded".into(),
                message: "ReplicaSet \"twisterlab-api-7d9f8b6c5d\" has timed out progressing.".into(),
            }
        );
        assert_eq!((status.generation, status.observed_generation), (7, 7));
        assert_eq!(
            (status.desired, status.current, status.updated, status.ready, status.available),
            (3, 4, 2, 2, 2)
        );
        assert_eq!(
            status.progressing.as_ref().map(|c| c.status.as_str()),
            Some("False"),
            "the Progressing condition is kept for display"
        );
        assert!(status.is_finished());
        assert_eq!(
            status.to_string(),
            "deployment \"twisterlab-api\" rollout failed (ProgressDeadlineExceeded): \
             ReplicaSet \"twisterlab-api-7d9f8b6c5d\" has timed out progressing."
        );
    }

    #[test]
    fn complete_deployment_is_done() {
        let status = rollout_status(&deployment(include_str!("../../fixtures/deployment_complete.json")));
        assert_eq!(status.progress, RolloutProgress::Done);
        assert_eq!(status.to_string(), "deployment \"twisterlab-worker\" successfully rolled out");
    }

    #[test]
    fn rolling_deployment_waits_for_new_replicas_then_old_ones_then_availability() {
        let rolling = deployment(include_str!("../../fixtures/deployment_rolling.json"));
        let status = rollout_status(&rolling);
        assert_eq!(
            status.progress,
            RolloutProgress::InProgress { waiting_for: "1 out of 3 new replicas have been updated".into() }
        );
        assert!(!status.is_finished());
        assert_eq!(
            status.to_string(),
            "waiting for deployment \"twisterlab-api\" rollout to finish: 1 out of 3 new replicas have been updated"
        );

        let mut old_left = rolling.clone();
        let s = old_left.status.as_mut().expect("status");
        (s.replicas, s.updated_replicas, s.available_replicas) = (Some(4), Some(3), Some(3));
        assert_eq!(
            rollout_status(&old_left).progress,
            RolloutProgress::InProgress { waiting_for: "1 old replicas are pending termination".into() }
        );

        let mut unavailable = rolling;
        let s = unavailable.status.as_mut().expect("status");
        (s.replicas, s.updated_replicas, s.available_replicas) = (Some(3), Some(3), Some(2));
        assert_eq!(
            rollout_status(&unavailable).progress,
            RolloutProgress::InProgress { waiting_for: "2 of 3 updated replicas are available".into() }
        );
    }

    #[test]
    fn an_unobserved_change_is_in_progress_even_with_an_old_deadline_condition() {
        let mut stalled = deployment(include_str!("../../fixtures/deployment_stalled.json"));
        stalled.metadata.generation = Some(8);
        assert_eq!(
            rollout_status(&stalled).progress,
            RolloutProgress::InProgress {
                waiting_for: "the deployment controller has not yet seen the latest change".into()
            }
        );
    }

    #[test]
    fn replica_failure_is_reported_without_failing_the_rollout() {
        let status = rollout_status(&deployment(
            r#"{"metadata":{"name":"web","generation":2},
                "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{}},
                "status":{"observedGeneration":2,"replicas":1,"updatedReplicas":1,"availableReplicas":1,
                  "conditions":[{"type":"ReplicaFailure","status":"True","reason":"FailedCreate",
                    "message":"pods \"web-1\" is forbidden: exceeded quota: compute-resources"}]}}"#,
        ));
        assert_eq!(
            status.replica_failure.as_deref(),
            Some("pods \"web-1\" is forbidden: exceeded quota: compute-resources")
        );
        assert_eq!(
            status.progress,
            RolloutProgress::InProgress { waiting_for: "1 out of 2 new replicas have been updated".into() }
        );
    }
}
