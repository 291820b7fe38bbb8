//! Authoring: `gt formula new NAME` and `gt formula package init`.

use super::manifest::{self, Manifest};
use super::{PackageError, Result, MANIFEST};
use crate::formula::library::validate_name;
use std::path::{Path, PathBuf};

/// Write `<dir>/<name>.formula.toml`: a formula with a var and three steps
/// that lints clean, ready to edit. Refuses to overwrite.
pub fn new_formula(name: &str, dir: &Path) -> Result<PathBuf> {
    validate_name(name).map_err(|why| {
        PackageError::Usage(format!("`{name}` is not a valid formula name: {why}"))
    })?;
    let path = dir.join(format!("{name}.formula.toml"));
    if path.exists() {
        return Err(PackageError::Usage(format!(
            "{} already exists; pick another name or edit it",
            path.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| PackageError::io(dir.display().to_string(), e))?;
    std::fs::write(&path, template(name))
        .map_err(|e| PackageError::io(path.display().to_string(), e))?;
    Ok(path)
}

fn template(name: &str) -> String {
    format!(
        r#"# {name}: describe what this workflow is for.
formula = "{name}"
description = "What {name} does, in one sentence."
version = 1

[vars.target]
description = "What the workflow works on"
required = true

[[steps]]
id = "plan"
title = "Plan the work on {{{{target}}}}"
description = "Read the code around {{{{target}}}} and write down the approach."

[[steps]]
id = "implement"
title = "Implement {{{{target}}}}"
description = "Make the change, with tests."
needs = ["plan"]

[[steps]]
id = "review"
title = "Review {{{{target}}}}"
description = "Read the whole diff once more; fix what you find."
needs = ["implement"]
"#
    )
}

/// Write `formula-package.toml` for the formulas in `dir`.
pub fn package_init(dir: &Path, name: Option<&str>, version: &str) -> Result<PathBuf> {
    let path = dir.join(MANIFEST);
    if path.exists() {
        return Err(PackageError::Usage(format!(
            "{} already exists; edit it instead",
            path.display()
        )));
    }
    let name = match name {
        Some(n) => n.to_string(),
        None => default_name(dir),
    };
    validate_name(&name).map_err(|why| {
        PackageError::Usage(format!(
            "`{name}` is not a valid package name ({why}); pass --name"
        ))
    })?;
    let version = semver::Version::parse(version).map_err(|e| {
        PackageError::Usage(format!(
            "`{version}` is not a semantic version ({e}); e.g. 0.1.0"
        ))
    })?;
    let formulas = manifest::formula_names(dir)?;
    if formulas.is_empty() {
        return Err(PackageError::Usage(format!(
            "{} holds no `*.formula.toml` files; a package exports formulas (write one with `gt formula new NAME`)",
            dir.display()
        )));
    }
    let m = Manifest {
        name,
        version,
        description: Some("Formulas for ...".into()),
        license: None,
        formulas,
        dependencies: Default::default(),
    };
    std::fs::write(&path, m.to_toml())
        .map_err(|e| PackageError::io(path.display().to_string(), e))?;
    Ok(path)
}

fn default_name(dir: &Path) -> String {
    let base = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_default();
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
