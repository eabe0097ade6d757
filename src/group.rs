//! Sync groups: one daisy chain of Quadro Sync boards. A group is healthy only when
//! every member is healthy and, if members report roles, exactly one is Master.

use serde::Serialize;

use crate::status::{Role, Status};

/// The health of one sync group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupHealth {
    /// Some member has not answered yet.
    Pending,
    Healthy,
    /// What is wrong, e.g. `no master` or `multiple masters (wall-01, wall-05)`.
    Unhealthy(String),
}

/// A sync group as shown and reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Node ids of the members, in config order.
    pub members: Vec<usize>,
    /// Healthy members whose role is Master.
    pub masters: usize,
    /// Whether any member reported a role code (`state<d>`); groups answering only
    /// `Synced`/`Free` carry no role information.
    pub has_roles: bool,
    pub health: GroupHealth,
}

/// What the group rule needs to know about one member.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub name: &'a str,
    pub status: Status,
    pub role: Option<Role>,
}

/// Applies the group rule to the members' current state.
pub fn evaluate(members: &[Member<'_>]) -> (usize, bool, GroupHealth) {
    let has_roles = members.iter().any(|m| m.role.is_some());
    let masters: Vec<&str> = members
        .iter()
        .filter(|m| m.status.is_healthy() && m.role == Some(Role::Master))
        .map(|m| m.name)
        .collect();
    if members.iter().any(|m| m.status == Status::Pending) {
        return (masters.len(), has_roles, GroupHealth::Pending);
    }
    let mut problems = Vec::new();
    if has_roles {
        match masters.len() {
            1 => {}
            0 => problems.push("no master".to_owned()),
            _ => problems.push(format!("multiple masters ({})", masters.join(", "))),
        }
    }
    let unhealthy = members.iter().filter(|m| !m.status.is_healthy()).count();
    if unhealthy > 0 {
        problems.push(format!(
            "{unhealthy} of {} members unhealthy",
            members.len()
        ));
    }
    let health = if problems.is_empty() {
        GroupHealth::Healthy
    } else {
        GroupHealth::Unhealthy(problems.join("; "))
    };
    (masters.len(), has_roles, health)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, status: Status, role: Option<Role>) -> Member<'_> {
        Member { name, status, role }
    }

    #[test]
    fn exactly_one_master_is_healthy() {
        let g = [
            m("a", Status::Synced, Some(Role::Master)),
            m("b", Status::Synced, Some(Role::Slave)),
            m("c", Status::Synced, Some(Role::Slave)),
        ];
        assert_eq!(evaluate(&g), (1, true, GroupHealth::Healthy));
    }

    #[test]
    fn no_master_is_unhealthy() {
        let g = [
            m("a", Status::Synced, Some(Role::Slave)),
            m("b", Status::Synced, Some(Role::Slave)),
        ];
        assert_eq!(
            evaluate(&g),
            (0, true, GroupHealth::Unhealthy("no master".into()))
        );
    }

    #[test]
    fn two_masters_are_named() {
        let g = [
            m("wall-01", Status::Synced, Some(Role::Master)),
            m("wall-02", Status::Synced, Some(Role::Slave)),
            m("wall-05", Status::Synced, Some(Role::Master)),
        ];
        assert_eq!(
            evaluate(&g),
            (
                2,
                true,
                GroupHealth::Unhealthy("multiple masters (wall-01, wall-05)".into())
            )
        );
    }

    #[test]
    fn unhealthy_member_and_missing_master_are_both_said() {
        let g = [
            m("a", Status::Free, Some(Role::Error)),
            m("b", Status::Synced, Some(Role::Slave)),
        ];
        assert_eq!(
            evaluate(&g),
            (
                0,
                true,
                GroupHealth::Unhealthy("no master; 1 of 2 members unhealthy".into())
            )
        );
    }

    #[test]
    fn groups_without_roles_need_all_members_healthy() {
        let ok = [m("a", Status::Synced, None), m("b", Status::Synced, None)];
        assert_eq!(evaluate(&ok), (0, false, GroupHealth::Healthy));
        let bad = [m("a", Status::Synced, None), m("b", Status::Timeout, None)];
        assert_eq!(
            evaluate(&bad),
            (
                0,
                false,
                GroupHealth::Unhealthy("1 of 2 members unhealthy".into())
            )
        );
    }

    #[test]
    fn pending_member_leaves_group_pending() {
        let g = [
            m("a", Status::Synced, Some(Role::Master)),
            m("b", Status::Pending, None),
        ];
        assert_eq!(evaluate(&g).2, GroupHealth::Pending);
    }
}
