//! `formula-package.toml`: what a package is called, its version, the
//! formulas it exports and the packages it needs.
//!
//! ```toml
//! [package]
//! name = "review-kit"
//! version = "1.2.0"
//! description = "Code review with parallel reviewers"
//! license = "MIT"
//! formulas = ["code-review"]          # exported; default: every formula file
//!
//! [dependencies]
//! base-kit = { source = "https://example.com/base-kit.git", version = "^1" }
//! ```

use super::{PackageError, Result, MANIFEST};
use crate::formula::library::{formula_stem, validate_name};
use crate::formula::suggest::did_you_mean;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    pub description: Option<String>,
    pub license: Option<String>,
    /// Exported formula names.
    pub formulas: Vec<String>,
    pub dependencies: BTreeMap<String, Dependency>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// A git URL, a folder or a `.tar.gz`; a relative path is relative to the
    /// depending package's own source.
    pub source: String,
    pub version: semver::VersionReq,
}

const TOP_KEYS: &[&str] = &["package", "dependencies"];
const PACKAGE_KEYS: &[&str] = &["name", "version", "description", "license", "formulas"];
const DEP_KEYS: &[&str] = &["source", "version"];

/// Read and check the manifest of the package in `dir`.
pub fn load(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| PackageError::Manifest {
        path: path.display().to_string(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no manifest: a formula package needs a `{MANIFEST}`; write one with `gt formula package init`"
            ),
            _ => format!("cannot read it: {e}"),
        },
    })?;
    let m = parse(&text).map_err(|message| PackageError::Manifest {
        path: path.display().to_string(),
        message,
    })?;
    check_files(dir, &m).map_err(|message| PackageError::Manifest {
        path: path.display().to_string(),
        message,
    })?;
    Ok(m)
}

/// Parse manifest text. Errors name the key and the fix.
pub fn parse(text: &str) -> std::result::Result<Manifest, String> {
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("not valid TOML: {}", e.message()))?;
    unknown_keys(doc.as_table(), TOP_KEYS, "")?;
    let pkg = doc
        .get("package")
        .and_then(Item::as_table)
        .ok_or("missing the `[package]` table (with `name` and `version`)")?;
    unknown_keys(pkg, PACKAGE_KEYS, "package.")?;
    let name = string(pkg, "name", "package.")?.ok_or("`package.name` is missing")?;
    validate_name(&name)
        .map_err(|why| format!("`package.name = \"{name}\"` is not a valid name: {why}"))?;
    let version_text = string(pkg, "version", "package.")?
        .ok_or("`package.version` is missing; use a semantic version such as \"1.0.0\"")?;
    let version = semver::Version::parse(&version_text).map_err(|e| {
        format!("`package.version = \"{version_text}\"` is not a semantic version ({e}); write e.g. \"1.0.0\"")
    })?;
    let formulas = match pkg.get("formulas") {
        None => Vec::new(),
        Some(item) => item
            .as_array()
            .ok_or("`package.formulas` must be an array of formula names")?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "`package.formulas` must hold strings".to_string())
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
    };
    let mut dependencies = BTreeMap::new();
    if let Some(item) = doc.get("dependencies") {
        let deps = item.as_table_like().ok_or(
            "`[dependencies]` must be a table of `name = { source = ..., version = ... }`",
        )?;
        for (dep, spec) in deps.iter() {
            validate_name(dep).map_err(|why| format!("dependency `{dep}`: {why}"))?;
            dependencies.insert(dep.to_string(), dependency(dep, spec)?);
        }
    }
    Ok(Manifest {
        name,
        version,
        description: string(pkg, "description", "package.")?,
        license: string(pkg, "license", "package.")?,
        formulas,
        dependencies,
    })
}

fn dependency(name: &str, spec: &Item) -> std::result::Result<Dependency, String> {
    let t = spec.as_table_like().ok_or_else(|| {
        format!("dependency `{name}` must be a table: `{name} = {{ source = \"URL\", version = \"^1\" }}`")
    })?;
    for (k, _) in t.iter() {
        if !DEP_KEYS.contains(&k) {
            return Err(unknown(k, DEP_KEYS, &format!("dependencies.{name}.")));
        }
    }
    let source = t
        .get("source")
        .and_then(Item::as_str)
        .ok_or_else(|| {
            format!("dependency `{name}` needs `source` (a git URL, folder or .tar.gz)")
        })?
        .to_string();
    let req = t.get("version").and_then(Item::as_str).unwrap_or("*");
    let version = semver::VersionReq::parse(req).map_err(|e| {
        format!("dependency `{name}`: `version = \"{req}\"` is not a version requirement ({e}); write e.g. \"^1.2\"")
    })?;
    Ok(Dependency { source, version })
}

fn string(t: &Table, key: &str, prefix: &str) -> std::result::Result<Option<String>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(item) => item
            .as_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| format!("`{prefix}{key}` must be a string")),
    }
}

fn unknown_keys(t: &Table, known: &[&str], prefix: &str) -> std::result::Result<(), String> {
    match t.iter().find(|(k, _)| !known.contains(k)) {
        Some((k, _)) => Err(unknown(k, known, prefix)),
        None => Ok(()),
    }
}

fn unknown(key: &str, known: &[&str], prefix: &str) -> String {
    let hint = match did_you_mean(key, known.iter().copied()) {
        Some(s) => format!("did you mean `{prefix}{s}`?"),
        None => format!(
            "known keys: {}",
            known
                .iter()
                .map(|k| format!("`{prefix}{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("unknown key `{prefix}{key}`; {hint}")
}

/// The formula files at the package's top level, sorted.
pub fn formula_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| PackageError::io(dir.display().to_string(), e))?;
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.path().is_file() && formula_stem(&e.file_name().to_string_lossy()).is_some())
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// The names of the formulas at the package's top level, sorted.
pub fn formula_names(dir: &Path) -> Result<Vec<String>> {
    Ok(formula_files(dir)?
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()
                .and_then(formula_stem)
                .map(str::to_string)
        })
        .collect())
}

/// Every exported formula exists; with no list, every file is exported.
fn check_files(dir: &Path, m: &Manifest) -> std::result::Result<(), String> {
    let stems = formula_names(dir).map_err(|e| e.to_string())?;
    if stems.is_empty() {
        return Err(format!(
            "the package has no `*.formula.toml` files beside its `{MANIFEST}`"
        ));
    }
    for f in &m.formulas {
        if !stems.contains(f) {
            let hint = did_you_mean(f, stems.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("the package has: {}", stems.join(", ")));
            return Err(format!(
                "`package.formulas` exports `{f}`, but there is no `{f}.formula.toml`; {hint}"
            ));
        }
    }
    Ok(())
}

impl Manifest {
    /// The exported names: the manifest's list, else every formula file.
    pub fn exports(&self, dir: &Path) -> Vec<String> {
        if !self.formulas.is_empty() {
            return self.formulas.clone();
        }
        formula_names(dir).unwrap_or_default()
    }

    /// Render a manifest (for `gt formula package init`).
    pub fn to_toml(&self) -> String {
        let mut doc = DocumentMut::new();
        let mut pkg = Table::new();
        pkg["name"] = toml_edit::value(&self.name);
        pkg["version"] = toml_edit::value(self.version.to_string());
        if let Some(d) = &self.description {
            pkg["description"] = toml_edit::value(d);
        }
        if let Some(l) = &self.license {
            pkg["license"] = toml_edit::value(l);
        }
        let mut arr = toml_edit::Array::new();
        for f in &self.formulas {
            arr.push(f.as_str());
        }
        pkg["formulas"] = toml_edit::value(arr);
        doc["package"] = Item::Table(pkg);
        if !self.dependencies.is_empty() {
            let mut deps = Table::new();
            for (n, d) in &self.dependencies {
                let mut t = toml_edit::InlineTable::new();
                t.insert("source", d.source.as_str().into());
                t.insert("version", d.version.to_string().into());
                deps[n.as_str()] = toml_edit::value(t);
            }
            doc["dependencies"] = Item::Table(deps);
        }
        doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let e =
            parse("[package]\nname = \"a\"\nversion = \"1.0.0\"\nlicence = \"MIT\"\n").unwrap_err();
        assert!(e.contains("unknown key `package.licence`"), "{e}");
        assert!(e.contains("did you mean `package.license`"), "{e}");
    }

    #[test]
    fn versions_must_be_semver() {
        let e = parse("[package]\nname = \"a\"\nversion = \"one\"\n").unwrap_err();
        assert!(e.contains("not a semantic version"), "{e}");
    }

    #[test]
    fn dependencies_parse() {
        let m = parse(
            "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = { source = \"../b\", version = \"^1.2\" }\n",
        )
        .unwrap();
        assert_eq!(m.dependencies["b"].source, "../b");
        assert!(m.dependencies["b"]
            .version
            .matches(&semver::Version::new(1, 3, 0)));
        let round = parse(&m.to_toml()).unwrap();
        assert_eq!(
            round,
            Manifest {
                formulas: vec![],
                ..m
            }
        );
    }

    #[test]
    fn names_cannot_leave_home() {
        let e = parse("[package]\nname = \"../x\"\nversion = \"1.0.0\"\n").unwrap_err();
        assert!(e.contains("not a valid name"), "{e}");
    }
}
