//! The stable key of a node: its configured name. Side state (pollers, hooks, metrics,
//! history) is keyed by it, so a reload that reorders or edits the node list re-keys
//! nothing.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A node's name, shared: cloning it is a reference-count increment, not a copy.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct NodeKey(Arc<str>);

/// Keys of one node are usually clones of one `Arc`: comparing the pointers first
/// skips the string comparison on the per-result lookups.
impl PartialEq for NodeKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// By the text, as equality is (two `Arc`s of one name are equal).
impl std::hash::Hash for NodeKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Serialize for NodeKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl NodeKey {
    pub fn new(name: &str) -> NodeKey {
        NodeKey(Arc::from(name))
    }

    /// The shared name itself, for side state keyed by it without a copy.
    pub fn shared(&self) -> &Arc<str> {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The raw name. Names come from the config file and may hold anything; escape before
/// display (see `present`).
impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for NodeKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeKey {
    fn from(s: &str) -> NodeKey {
        NodeKey::new(s)
    }
}
