//! The first-run checklist: one item per thing a team sets up before relying on the portal,
//! each done when the real data exists, never when someone ticks a box.

use crate::db::setup::Facts;

/// One item, with the admin page that does it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub label: &'static str,
    /// The rule that marks it done, in words.
    pub rule: &'static str,
    pub href: &'static str,
    pub done: bool,
}

/// The items in the order a new admin would do them.
///
/// - Status page components: the seeded components are examples, so the item is done once an
///   admin created, edited or deleted a component or group.
/// - Probed services: at least one enabled service (a fresh install probes nothing).
/// - Users: a second active user (the first admin alone cannot run an incident).
/// - On-call rotation: the responders' rotation has someone in it (paging goes to them).
/// - Notification channels: at least one enabled channel, or pages reach nobody.
/// - SLA policy: an admin saved the policy once, changed or confirmed as shipped.
pub(crate) fn items(f: &Facts) -> Vec<Item> {
    vec![
        Item {
            label: "Status page components",
            rule: "name the parts of TwisterLab your customers see (create, rename or delete one)",
            href: "/admin/components",
            done: f.components_reviewed,
        },
        Item {
            label: "Probed services",
            rule: "enable at least one service for the portal to probe",
            href: "/admin/services",
            done: f.service_enabled,
        },
        Item {
            label: "Users",
            rule: "add your teammates (a second active user)",
            href: "/admin/users",
            done: f.active_users >= 2,
        },
        Item {
            label: "On-call rotation",
            rule: "put at least one person in the responders' rotation",
            href: "/oncall/rotations/responders",
            done: f.rotation_staffed,
        },
        Item {
            label: "Notification channels",
            rule: "add an enabled Slack, webhook or PagerDuty channel",
            href: "/admin/channels",
            done: f.channel_enabled,
        },
        Item {
            label: "SLA policy",
            rule: "review the response and escalation targets and save them",
            href: "/admin/sla",
            done: f.sla_reviewed,
        },
    ]
}

/// The checklist as the overview shows it.
#[derive(Clone, Debug)]
pub(crate) struct Checklist {
    pub items: Vec<Item>,
}

impl Checklist {
    pub(crate) fn done_count(&self) -> usize {
        self.items.iter().filter(|i| i.done).count()
    }

    pub(crate) fn complete(&self) -> bool {
        self.items.iter().all(|i| i.done)
    }
}

/// What the overview shows an admin: the checklist until every item is done or it was
/// dismissed; `None` afterwards.
pub(crate) fn shown(facts: &Facts, dismissed: bool) -> Option<Checklist> {
    let checklist = Checklist { items: items(facts) };
    (!dismissed && !checklist.complete()).then_some(checklist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_install_has_every_item_open_and_one_user_is_not_a_team() {
        let fresh = Facts { active_users: 1, ..Facts::default() };
        let list = shown(&fresh, false).expect("shown on a fresh install");
        assert_eq!(list.done_count(), 0);
        assert_eq!(list.items.len(), 6);
    }

    #[test]
    fn the_checklist_goes_away_when_everything_is_done_or_it_was_dismissed() {
        let all = Facts {
            components_reviewed: true,
            service_enabled: true,
            active_users: 2,
            rotation_staffed: true,
            channel_enabled: true,
            sla_reviewed: true,
        };
        assert!(shown(&all, false).is_none());
        assert!(shown(&Facts::default(), true).is_none());
        assert_eq!(
            shown(&Facts { active_users: 2, ..Facts::default() }, false).map(|c| c.done_count()),
            Some(1)
        );
    }
}
