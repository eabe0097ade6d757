//! Sync groups: one daisy chain of Quadro Sync boards. A group is healthy only when
//! every member is healthy and, if members report roles, exactly one is Master.

use std::sync::Arc;

use crate::model::{GroupHealth, GroupProblem, GroupStatus, NodeKey, Role, Status};

/// A sync group as shown and reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: Arc<str>,
    /// Members, in config order.
    pub members: Vec<NodeKey>,
    /// Healthy members whose role is Master.
    pub masters: usize,
    /// Whether any member reported a role code (`state<d>`); groups answering only
    /// `Synced`/`Free` carry no role information.
    pub has_roles: bool,
    pub health: GroupHealth,
    /// The health in one word, as recorded in history; `None` while pending.
    pub status: Option<GroupStatus>,
    /// The `[[maintenance]]` window the group is in as a whole, by name.
    pub maintenance: Option<Arc<str>>,
    /// The acknowledgement of the group as a whole.
    pub ack: Option<Arc<crate::model::Ack>>,
}

impl SyncGroup {
    /// Left out of the verdict: in maintenance, or acknowledged when acks count
    /// as handled (`--ignore-acked`).
    pub fn is_excluded(&self, ignore_acked: bool) -> bool {
        self.maintenance.is_some() || (ignore_acked && self.ack.is_some())
    }

    /// Unhealthy, and nobody has said they know.
    pub fn is_alarming(&self) -> bool {
        self.health.is_unhealthy() && self.maintenance.is_none() && self.ack.is_none()
    }
}

/// What the group rule needs to know about one member.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub key: &'a NodeKey,
    pub status: Status,
    pub role: Option<Role>,
}

/// Applies the group rule to the members' current state: (masters, has_roles, health).
/// The members given are those that count; `excluded` says whether some were
/// left out (in maintenance, or acknowledged with `--ignore-acked`): then a
/// missing Master is not a problem, since the Master may be the one left out.
pub fn evaluate_without(members: &[Member<'_>], excluded: bool) -> (usize, bool, GroupHealth) {
    let (masters, has_roles, health) = evaluate(members);
    if !excluded {
        return (masters, has_roles, health);
    }
    let health = match health {
        GroupHealth::Unhealthy(problems) => {
            let rest: Vec<GroupProblem> = problems
                .into_iter()
                .filter(|p| *p != GroupProblem::NoMaster)
                .collect();
            if rest.is_empty() {
                GroupHealth::Healthy
            } else {
                GroupHealth::Unhealthy(rest)
            }
        }
        other => other,
    };
    (masters, has_roles, health)
}

/// Applies the group rule to the members' current state: (masters, has_roles, health).
pub fn evaluate(members: &[Member<'_>]) -> (usize, bool, GroupHealth) {
    let has_roles = members.iter().any(|m| m.role.is_some());
    let masters: Vec<NodeKey> = members
        .iter()
        .filter(|m| m.status.is_healthy() && m.role == Some(Role::Master))
        .map(|m| m.key.clone())
        .collect();
    let count = masters.len();
    if members.iter().any(|m| m.status == Status::Pending) {
        return (count, has_roles, GroupHealth::Pending);
    }
    let mut problems = Vec::new();
    if has_roles {
        match count {
            1 => {}
            0 => problems.push(GroupProblem::NoMaster),
            _ => problems.push(GroupProblem::MultipleMasters { masters }),
        }
    }
    let unhealthy = members.iter().filter(|m| !m.status.is_healthy()).count();
    if unhealthy > 0 {
        problems.push(GroupProblem::UnhealthyMembers {
            unhealthy,
            total: members.len(),
        });
    }
    let health = if problems.is_empty() {
        GroupHealth::Healthy
    } else {
        GroupHealth::Unhealthy(problems)
    };
    (count, has_roles, health)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(list: &[(&str, Status, Option<Role>)]) -> (usize, bool, GroupHealth) {
        let keys: Vec<NodeKey> = list.iter().map(|(n, _, _)| NodeKey::new(n)).collect();
        let members: Vec<Member> = list
            .iter()
            .zip(&keys)
            .map(|((_, status, role), key)| Member {
                key,
                status: *status,
                role: *role,
            })
            .collect();
        evaluate(&members)
    }

    #[test]
    fn exactly_one_master_is_healthy() {
        let g = [
            ("a", Status::Synced, Some(Role::Master)),
            ("b", Status::Synced, Some(Role::Slave)),
            ("c", Status::Synced, Some(Role::Slave)),
        ];
        assert_eq!(eval(&g), (1, true, GroupHealth::Healthy));
    }

    #[test]
    fn no_master_is_unhealthy() {
        let g = [
            ("a", Status::Synced, Some(Role::Slave)),
            ("b", Status::Synced, Some(Role::Slave)),
        ];
        assert_eq!(
            eval(&g),
            (
                0,
                true,
                GroupHealth::Unhealthy(vec![GroupProblem::NoMaster])
            )
        );
    }

    #[test]
    fn two_masters_are_named() {
        let g = [
            ("wall-01", Status::Synced, Some(Role::Master)),
            ("wall-02", Status::Synced, Some(Role::Slave)),
            ("wall-05", Status::Synced, Some(Role::Master)),
        ];
        let masters = vec![NodeKey::new("wall-01"), NodeKey::new("wall-05")];
        assert_eq!(
            eval(&g),
            (
                2,
                true,
                GroupHealth::Unhealthy(vec![GroupProblem::MultipleMasters { masters }])
            )
        );
    }

    #[test]
    fn unhealthy_member_and_missing_master_are_both_said() {
        let g = [
            ("a", Status::Free, Some(Role::Error)),
            ("b", Status::Synced, Some(Role::Slave)),
        ];
        assert_eq!(
            eval(&g),
            (
                0,
                true,
                GroupHealth::Unhealthy(vec![
                    GroupProblem::NoMaster,
                    GroupProblem::UnhealthyMembers {
                        unhealthy: 1,
                        total: 2
                    }
                ])
            )
        );
    }

    #[test]
    fn groups_without_roles_need_all_members_healthy() {
        let ok = [("a", Status::Synced, None), ("b", Status::Synced, None)];
        assert_eq!(eval(&ok), (0, false, GroupHealth::Healthy));
        let bad = [("a", Status::Synced, None), ("b", Status::Timeout, None)];
        let (_, _, health) = eval(&bad);
        assert!(!health.has_master_problem());
        assert_eq!(
            health.problems(),
            &[GroupProblem::UnhealthyMembers {
                unhealthy: 1,
                total: 2
            }]
        );
    }

    #[test]
    fn pending_member_leaves_group_pending() {
        let g = [
            ("a", Status::Synced, Some(Role::Master)),
            ("b", Status::Pending, None),
        ];
        assert_eq!(eval(&g).2, GroupHealth::Pending);
    }
}
