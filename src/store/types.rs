//! The store's value types: statuses, issue types, dependency types, issues.

use super::error::{Result, StoreError};
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($var:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $s)] $var),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),*];
            pub const NAMES: &'static [&'static str] = &[$($s),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self> {
                let t = s.trim().to_ascii_lowercase().replace('_', "-");
                match t.as_str() {
                    $($s => Ok($name::$var),)*
                    _ => {
                        // `in_progress` is spelled with `_`; accept `in-progress` too.
                        for v in $name::ALL {
                            if v.as_str().replace('_', "-") == t {
                                return Ok(*v);
                            }
                        }
                        Err(StoreError::invalid($what, s, $name::NAMES))
                    }
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Issue status.
    Status, "status", {
        Open => "open",
        InProgress => "in_progress",
        Hooked => "hooked",
        Blocked => "blocked",
        Deferred => "deferred",
        Pinned => "pinned",
        Closed => "closed",
    }
);

string_enum!(
    /// Issue type.
    IssueType, "type", {
        Task => "task",
        Bug => "bug",
        Feature => "feature",
        Epic => "epic",
        Chore => "chore",
        Molecule => "molecule",
        Gate => "gate",
        Message => "message",
        Convoy => "convoy",
        MergeRequest => "merge-request",
        // Gas Town's record types (beads' `types.custom` in a town).
        Agent => "agent",
        Role => "role",
        Event => "event",
        Digest => "digest",
        Warrant => "warrant",
    }
);

string_enum!(
    /// Dependency type. `from` depends on `to`.
    DepType, "dependency type", {
        Blocks => "blocks",
        ParentChild => "parent-child",
        WaitsFor => "waits-for",
        ConditionalBlocks => "conditional-blocks",
        Related => "related",
        DiscoveredFrom => "discovered-from",
        Tracks => "tracks",
    }
);

impl DepType {
    /// Types that take part in readiness (and so in cycle checks).
    pub fn is_blocking(self) -> bool {
        matches!(
            self,
            DepType::Blocks | DepType::ConditionalBlocks | DepType::ParentChild | DepType::WaitsFor
        )
    }
}

/// Priority 0 (highest) to 4.
pub fn parse_priority(s: &str) -> Result<u8> {
    let t = s.trim().trim_start_matches(['P', 'p']);
    match t.parse::<u8>() {
        Ok(p) if p <= 4 => Ok(p),
        _ => Err(StoreError::invalid(
            "priority",
            s,
            &["0", "1", "2", "3", "4 (0 is highest; P0..P4 also work)"],
        )),
    }
}

pub fn check_priority(p: i64) -> Result<u8> {
    if (0..=4).contains(&p) {
        Ok(p as u8)
    } else {
        parse_priority(&p.to_string())
    }
}

/// One issue (bead), as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub design: String,
    #[serde(default)]
    pub acceptance_criteria: String,
    #[serde(default)]
    pub notes: String,
    pub status: Status,
    pub issue_type: IssueType,
    pub priority: u8,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    #[serde(default)]
    pub ephemeral: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub close_reason: Option<String>,
    #[serde(default)]
    pub created_by: String,
}

/// Materialised readiness of one issue (see `docs/store.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub open_blockers: i64,
    pub waits_unsatisfied: i64,
    pub ancestor_blocked: bool,
    pub blocked: bool,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dep {
    pub issue_id: String,
    pub depends_on: String,
    #[serde(rename = "type")]
    pub dep_type: DepType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    pub created_at: String,
    #[serde(default)]
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub author: String,
    pub text: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub issue_id: String,
    pub at: String,
    pub actor: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_enums_and_list_valid_values() {
        assert_eq!("in-progress".parse::<Status>().unwrap(), Status::InProgress);
        assert_eq!("IN_PROGRESS".parse::<Status>().unwrap(), Status::InProgress);
        assert_eq!(
            "merge_request".parse::<IssueType>().unwrap(),
            IssueType::MergeRequest
        );
        let e = "dne".parse::<Status>().unwrap_err();
        assert!(e.help().unwrap().contains("in_progress"), "{:?}", e.help());
        assert_eq!(parse_priority("P1").unwrap(), 1);
        assert!(parse_priority("5").is_err());
        assert!(parse_priority("x")
            .unwrap_err()
            .help()
            .unwrap()
            .contains("0"));
    }
}
