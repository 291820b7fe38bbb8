//! The one id grammar of the crate, and the one way to turn an id into a path.
//!
//! Ids reach the file system (pid, prompt and status files, worktrees, logs)
//! and git (branch names). Every id is therefore checked at the door against
//! one grammar, and every path built from an id goes through [`join`], which
//! cannot leave its parent directory.
//!
//! - [`validate_bead_id`]: issue ids, `<prefix>-<hash>` and molecule steps
//!   `<root>.<step.path>`: ASCII letters, digits, `-`, `_`, `.`; at most
//!   [`MAX_BEAD_ID`] bytes.
//! - [`validate_name`]: rig, agent, polecat and step names: ASCII letters,
//!   digits, `-`, `_`, `.`; at most [`MAX_NAME`] bytes.
//!
//! Both also refuse everything git refuses in a ref component (a leading
//! `.` or `-`, `..`, a `.lock` or `.` ending, `@{`, control characters,
//! spaces and `~^:?*[\`), so an id can always be a branch name component.

use std::path::{Path, PathBuf};

/// Longest bead id, in bytes (file names stop at 255; leave room for suffixes).
pub const MAX_BEAD_ID: usize = 200;
/// Longest rig, agent, polecat or step name, in bytes.
pub const MAX_NAME: usize = 64;

/// Why an id or name was refused. The message says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty; give a non-empty {kind} made of letters, digits, `-`, `_` and `.`")]
    Empty { kind: &'static str },
    #[error("{kind} `{value}` is {len} bytes long; the limit is {max}: use a shorter {kind}")]
    TooLong {
        kind: &'static str,
        value: String,
        len: usize,
        max: usize,
    },
    #[error("{kind} `{value}` contains {what}; use only ASCII letters, digits, `-`, `_` and `.`")]
    BadChar {
        kind: &'static str,
        value: String,
        what: String,
    },
    #[error("{kind} `{value}` {problem}; git refuses that in a branch name, so rename it ({fix})")]
    NotGitSafe {
        kind: &'static str,
        value: String,
        problem: &'static str,
        fix: &'static str,
    },
}

/// Check a bead (issue) id: `bd-a1b2`, `gt-x9.build.test-1`.
pub fn validate_bead_id(id: &str) -> Result<(), IdError> {
    check("bead id", id, MAX_BEAD_ID)
}

/// Check a rig, agent, polecat or step name.
pub fn validate_name(kind: &'static str, name: &str) -> Result<(), IdError> {
    check(kind, name, MAX_NAME)
}

fn describe(c: char) -> String {
    match c {
        '/' | '\\' => format!("a path separator `{c}`"),
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c if !c.is_ascii() => format!("the non-ASCII character `{c}`"),
        c => format!("the character `{c}`"),
    }
}

fn check(kind: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(IdError::BadChar {
            kind,
            value: value.escape_debug().to_string(),
            what: describe(c),
        });
    }
    if value.len() > max {
        return Err(IdError::TooLong {
            kind,
            value: format!("{}…", &value[..32]),
            len: value.len(),
            max,
        });
    }
    let git = |problem, fix| {
        Err(IdError::NotGitSafe {
            kind,
            value: value.to_string(),
            problem,
            fix,
        })
    };
    if value.contains("..") {
        return git("contains `..`", "use a single `.`");
    }
    if value.starts_with('.') {
        return git("starts with `.`", "start with a letter or digit");
    }
    if value.starts_with('-') {
        return git(
            "starts with `-`",
            "start with a letter or digit, so it is never read as an option",
        );
    }
    if value.ends_with('.') {
        return git("ends with `.`", "drop the trailing `.`");
    }
    if value.ends_with(".lock") {
        return git("ends with `.lock`", "drop or change the `.lock` suffix");
    }
    Ok(())
}

/// Why [`join`] refused to build a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("`{id}` would make a path outside {parent}: use a plain name without separators")]
    Escapes { id: String, parent: PathBuf },
}

/// `parent/<id><suffix>`, for an `id` that passes [`validate_name`] with a
/// bead-id length limit (so bead ids and names both fit). The result is
/// always a direct child of `parent`: hostile ids (`..`, `/x`, `a/../../b`,
/// NUL, `C:\x`) are refused, never normalised. `suffix` is a fixed,
/// program-chosen ending such as `.pid` or `""`.
pub fn join(parent: &Path, id: &str, suffix: &str) -> Result<PathBuf, PathError> {
    check("id", id, MAX_BEAD_ID)?;
    let file = format!("{id}{suffix}");
    let child = Path::new(&file);
    let mut comps = child.components();
    let single_normal =
        matches!(comps.next(), Some(std::path::Component::Normal(_))) && comps.next().is_none();
    if !single_normal || file.contains('/') || file.contains('\\') {
        return Err(PathError::Escapes {
            id: id.to_string(),
            parent: parent.to_path_buf(),
        });
    }
    Ok(parent.join(child))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "",
        ".",
        "..",
        "../x",
        "../../../etc/passwd",
        "a/../../b",
        "/abs",
        "a/b",
        "a\\b",
        "C:\\x",
        "x\0y",
        "x\ny",
        "x y",
        "x.lock",
        ".hidden",
        "-rf",
        "a..b",
        "a@{1}",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "trailing.",
        "é",
    ];

    #[test]
    fn hostile_ids_never_leave_the_parent() {
        let parent = Path::new("/town/run");
        for id in HOSTILE {
            assert!(validate_bead_id(id).is_err(), "bead id {id:?} accepted");
            assert!(
                validate_name("rig name", id).is_err(),
                "name {id:?} accepted"
            );
            assert!(join(parent, id, ".pid").is_err(), "join accepted {id:?}");
        }
        let long = "a".repeat(MAX_BEAD_ID + 1);
        assert!(matches!(
            validate_bead_id(&long),
            Err(IdError::TooLong { .. })
        ));
        assert!(validate_name("agent name", &"a".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn good_ids_join_as_direct_children() {
        let parent = Path::new("/town/run");
        for id in ["bd-a1b2", "gt-x9.build.test-1", "mol_7.step-2", "Polecat1"] {
            validate_bead_id(id).unwrap();
            let p = join(parent, id, ".status").unwrap();
            assert_eq!(p.parent(), Some(parent));
            assert_eq!(p.file_name().unwrap(), format!("{id}.status").as_str());
        }
    }

    #[test]
    fn errors_say_what_and_how() {
        let e = validate_bead_id("../x").unwrap_err().to_string();
        assert!(
            e.contains("path separator") && e.contains("use only"),
            "{e}"
        );
        let e = validate_name("step id", "x.lock").unwrap_err().to_string();
        assert!(e.contains(".lock") && e.contains("git"), "{e}");
    }
}
