//! Agent addresses: `mayor`, `overseer` (the human), the town's `deacon`,
//! its watchdog `boot` and its dogs `deacon/dogs/<name>`, `<rig>/witness`,
//! `<rig>/refinery`, `<rig>/polecats/<name>`, `<rig>/crew/<name>`, and the
//! groups `deacon/dogs`, `<rig>/polecats` and `<rig>/crew`.
//!
//! A rig is valid when the town's registry has it (`gt rig add`).
//! A group expands to the members the town knows: directories under
//! `<town>/<rig>/polecats/` (or `crew/`) and addresses that appear in the
//! store (agent generations, mail, assignees).

use super::{CoordError, Result};
use crate::town::Town;
use rusqlite::Connection;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    Mayor,
    Overseer,
    Deacon,
    /// The deacon's watchdog.
    Boot,
    /// `deacon/dogs/<name>`: a town-level helper of the deacon.
    Dog(String),
    /// `deacon/dogs`: every dog.
    Dogs,
    Witness(String),
    Refinery(String),
    Polecat(String, String),
    Crew(String, String),
    /// `<rig>/polecats`: every polecat of the rig.
    Polecats(String),
    /// `<rig>/crew`: every crew member of the rig.
    CrewGroup(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Mayor => f.write_str("mayor"),
            Address::Overseer => f.write_str("overseer"),
            Address::Deacon => f.write_str("deacon"),
            Address::Boot => f.write_str("boot"),
            Address::Dog(n) => write!(f, "deacon/dogs/{n}"),
            Address::Dogs => f.write_str("deacon/dogs"),
            Address::Witness(r) => write!(f, "{r}/witness"),
            Address::Refinery(r) => write!(f, "{r}/refinery"),
            Address::Polecat(r, n) => write!(f, "{r}/polecats/{n}"),
            Address::Crew(r, n) => write!(f, "{r}/crew/{n}"),
            Address::Polecats(r) => write!(f, "{r}/polecats"),
            Address::CrewGroup(r) => write!(f, "{r}/crew"),
        }
    }
}

/// A rig or agent name: letters, digits, `-`, `_`, `.`; not starting with `.`.
pub fn check_segment(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CoordError::usage(
            format!("invalid {what} name `{s}`"),
            "names use letters, digits, `-`, `_` and `.`, and do not start with `.`",
        ))
    }
}

impl Address {
    /// Parse the syntax only (rigs are checked by [`Directory::resolve`]).
    pub fn parse(input: &str) -> Option<Address> {
        let s = input.trim().trim_end_matches('/');
        let parts: Vec<&str> = s.split('/').collect();
        let seg_ok = |p: &str| check_segment("x", p).is_ok();
        if !parts.iter().all(|p| seg_ok(p)) {
            return None;
        }
        Some(match parts.as_slice() {
            ["mayor"] => Address::Mayor,
            ["overseer"] => Address::Overseer,
            ["deacon"] | ["deacon", "deacon"] => Address::Deacon,
            ["boot"] | ["deacon", "boot"] => Address::Boot,
            ["deacon", "dogs"] => Address::Dogs,
            ["deacon", "dogs", n] => Address::Dog(n.to_string()),
            [r, "witness"] => Address::Witness(r.to_string()),
            [r, "refinery"] => Address::Refinery(r.to_string()),
            [r, "polecats"] => Address::Polecats(r.to_string()),
            [r, "crew"] => Address::CrewGroup(r.to_string()),
            [r, "polecats", n] => Address::Polecat(r.to_string(), n.to_string()),
            [r, "crew", n] => Address::Crew(r.to_string(), n.to_string()),
            _ => return None,
        })
    }

    pub fn rig(&self) -> Option<&str> {
        match self {
            Address::Mayor
            | Address::Overseer
            | Address::Deacon
            | Address::Boot
            | Address::Dog(_)
            | Address::Dogs => None,
            Address::Witness(r)
            | Address::Refinery(r)
            | Address::Polecat(r, _)
            | Address::Crew(r, _)
            | Address::Polecats(r)
            | Address::CrewGroup(r) => Some(r),
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(
            self,
            Address::Polecats(_) | Address::CrewGroup(_) | Address::Dogs
        )
    }

    pub fn is_polecat(&self) -> bool {
        matches!(self, Address::Polecat(..))
    }
}

/// Who exists in this town: rigs and group members.
pub struct Directory {
    pub rigs: Vec<String>,
    pub town: Option<Town>,
}

impl Directory {
    pub fn load(town: Option<&Town>, conn: &Connection) -> Result<Directory> {
        Ok(Directory {
            rigs: crate::town::rigs::names(conn)?,
            town: town.cloned(),
        })
    }

    /// The valid address forms, for error messages.
    pub fn valid_forms(&self) -> String {
        let mut v = vec!["mayor".to_string(), "overseer".to_string()];
        if self.rigs.is_empty() {
            v.push("<rig>/witness, <rig>/refinery, <rig>/polecats/<name>, <rig>/crew/<name>, <rig>/polecats, <rig>/crew (this town has no rigs yet: add one with `gt rig add NAME URL`)".into());
        }
        for r in &self.rigs {
            v.push(format!(
                "{r}/witness, {r}/refinery, {r}/polecats/<name>, {r}/crew/<name>, {r}/polecats, {r}/crew"
            ));
        }
        v.push("deacon, boot, deacon/dogs/<name>, deacon/dogs".into());
        v.join(", ")
    }

    fn unknown(&self, input: &str, why: &str) -> CoordError {
        CoordError::usage(
            format!("unknown address `{input}`: {why}"),
            format!("valid addresses: {}", self.valid_forms()),
        )
    }

    /// Parse and validate one address (a group stays a group).
    pub fn parse(&self, input: &str) -> Result<Address> {
        let a = Address::parse(input).ok_or_else(|| self.unknown(input, "not an address"))?;
        if let Some(r) = a.rig() {
            if !self.rigs.iter().any(|k| k == r) {
                return Err(self.unknown(input, &format!("there is no rig `{r}`")));
            }
        }
        Ok(a)
    }

    /// Parse, validate and expand groups into their members.
    pub fn resolve(&self, conn: &Connection, input: &str) -> Result<Vec<Address>> {
        let a = self.parse(input)?;
        if !a.is_group() {
            return Ok(vec![a]);
        }
        let (rig, kind) = match &a {
            Address::Polecats(r) => (r.clone(), "polecats"),
            Address::CrewGroup(r) => (r.clone(), "crew"),
            Address::Dogs => ("deacon".to_string(), "dogs"),
            _ => unreachable!("checked is_group"),
        };
        let mut names: Vec<String> = Vec::new();
        if let Some(t) = &self.town {
            if let Ok(rd) = std::fs::read_dir(t.root.join(&rig).join(kind)) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().to_string();
                    if e.path().is_dir() && check_segment("x", &n).is_ok() {
                        names.push(n);
                    }
                }
            }
        }
        let prefix = format!("{rig}/{kind}/");
        let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
        let mut st = conn.prepare_cached(
            "SELECT address FROM agent_generations WHERE address LIKE ?1 ESCAPE '\\'
             UNION SELECT recipient FROM mail WHERE recipient LIKE ?1 ESCAPE '\\'
             UNION SELECT sender FROM mail WHERE sender LIKE ?1 ESCAPE '\\'
             UNION SELECT assignee FROM issues WHERE assignee LIKE ?1 ESCAPE '\\'",
        )?;
        for r in st.query_map([&pattern], |r| r.get::<_, String>(0))? {
            let r = r?;
            if let Some(n) = r.strip_prefix(&prefix) {
                if check_segment("x", n).is_ok() {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(CoordError::usage(
                format!("group `{a}` has no members yet"),
                format!("address one agent instead, e.g. {a}/<name>"),
            ));
        }
        Ok(names
            .into_iter()
            .map(|n| match kind {
                "polecats" => Address::Polecat(rig.clone(), n),
                "dogs" => Address::Dog(n),
                _ => Address::Crew(rig.clone(), n),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(Address::parse("mayor/"), Some(Address::Mayor));
        assert_eq!(Address::parse("overseer"), Some(Address::Overseer));
        assert_eq!(
            Address::parse("gt/polecats/nux").map(|a| a.to_string()),
            Some("gt/polecats/nux".into())
        );
        assert!(Address::parse("gt/polecats").unwrap().is_group());
        assert_eq!(Address::parse("gt/boss"), None);
        assert_eq!(Address::parse("gt/polecats/../x"), None);
        assert_eq!(Address::parse(""), None);
        assert_eq!(Address::parse("deacon/"), Some(Address::Deacon));
        assert_eq!(Address::parse("deacon/deacon"), Some(Address::Deacon));
        assert_eq!(Address::parse("boot"), Some(Address::Boot));
        assert_eq!(
            Address::parse("deacon/dogs/rex").map(|a| a.to_string()),
            Some("deacon/dogs/rex".into())
        );
        assert!(Address::parse("deacon/dogs").unwrap().is_group());
    }
}
