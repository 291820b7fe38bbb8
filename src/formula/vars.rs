//! Binding var values: one rule for cook, pour, wisp and bond.
//!
//! The rule (beads has three different ones, see the reference §3.12):
//! 1. a supplied `--var` value wins, else the declared `default`;
//! 2. a var that ends up with no value is missing if it is `required`, or if
//!    it has no default and is referenced as `{{name}}` anywhere in the text
//!    that will be substituted;
//! 3. every bound value must satisfy `enum`, `pattern` and `type`;
//! 4. a supplied var that the formula never declares is accepted and
//!    substituted, as beads does, with a warning (F0032) that suggests the
//!    declared name it may be a typo of ([`undeclared`]).

use super::proto::ProtoVar;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("missing required variable `{name}`")]
    Missing { name: String },
    #[error("variable `{name}`: value `{value}` is not one of {allowed:?}")]
    NotInEnum {
        name: String,
        value: String,
        allowed: Vec<String>,
    },
    #[error("variable `{name}`: value `{value}` does not match pattern `{pattern}`")]
    PatternMismatch {
        name: String,
        value: String,
        pattern: String,
    },
    #[error("variable `{name}`: pattern `{pattern}` is not a valid regex")]
    BadPattern { name: String, pattern: String },
    #[error("variable `{name}`: value `{value}` is not a valid {expected}")]
    WrongType {
        name: String,
        value: String,
        expected: String,
    },
    /// A value that cannot be placed in a `run` command (bind time).
    #[error("{message}")]
    UnsafeRun {
        name: String,
        message: String,
        help: String,
    },
    #[error("variable `{name}` is not declared by this formula")]
    Undeclared {
        name: String,
        suggestion: Option<String>,
    },
}

impl VarError {
    pub fn help(&self) -> String {
        match self {
            VarError::Missing { name } => format!("pass it with `--var {name}=<value>`"),
            VarError::NotInEnum { name, allowed, .. } => {
                format!("use one of: {} (`--var {name}=...`)", allowed.join(", "))
            }
            VarError::PatternMismatch { pattern, .. } => {
                format!("the value must match the regex `{pattern}`")
            }
            VarError::BadPattern { .. } => "fix the `pattern` in the formula".to_string(),
            VarError::WrongType { expected, .. } => match expected.as_str() {
                "int" => "use a whole number such as `3` or `-1`".to_string(),
                "bool" => "use `true` or `false`".to_string(),
                _ => format!("use a {expected}"),
            },
            VarError::UnsafeRun { help, .. } => help.clone(),
            VarError::Undeclared {
                suggestion: Some(s),
                ..
            } => format!("did you mean `{s}`?"),
            VarError::Undeclared { .. } => {
                "it is substituted where `{{name}}` appears; declare it under `[vars]` in the formula, or drop the `--var`".to_string()
            }
        }
    }
}

/// Parse one `--var key=value` argument.
pub fn parse_var_arg(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if is_var_name(k.trim()) => Ok((k.trim().to_string(), v.to_string())),
        Some((k, _)) => Err(format!(
            "invalid variable name `{k}` in `--var {arg}`: names are letters, digits and `_`, not starting with a digit"
        )),
        None => Err(format!(
            "invalid `--var {arg}`: expected `key=value`, e.g. `--var {arg}=something`"
        )),
    }
}

pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}").expect("valid regex"))
}

/// Every `{{name}}` referenced in `text`, in order of first appearance.
pub fn referenced_vars(text: &str) -> impl Iterator<Item = &str> {
    placeholder_re()
        .captures_iter(text)
        .map(|c| c.get(1).map(|m| m.as_str()).unwrap_or_default())
}

/// Byte ranges and names of every `{{name}}` in `text`.
pub fn placeholder_spans(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    placeholder_re()
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            Some((whole.range(), c.get(1)?.as_str().to_string()))
        })
        .collect()
}

/// Replace `{{name}}` for every bound name; unknown names stay verbatim.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    placeholder_re()
        .replace_all(text, |c: &regex::Captures<'_>| {
            let name = c.get(1).map(|m| m.as_str()).unwrap_or_default();
            match values.get(name) {
                Some(v) => v.clone(),
                None => c.get(0).map(|m| m.as_str()).unwrap_or_default().to_string(),
            }
        })
        .into_owned()
}

/// Like [`substitute`], for `run` commands: every value is escaped for the
/// shell context it lands in (see [`super::shell`]).
pub fn substitute_shell(text: &str, values: &BTreeMap<String, String>) -> Result<String, VarError> {
    use super::shell::EscapeError;
    super::shell::substitute(text, values).map_err(|e| {
        let from_env = |name: &str| match super::shell::env_name(name) {
            Some(env) => format!("read the value from the environment instead: `\"${env}\"`"),
            None => format!(
                "rename the var: the environment name `{}` is reserved, so the value cannot reach the step as an environment variable",
                name.to_ascii_uppercase()
            ),
        };
        let (name, help) = match &e {
            EscapeError::NotInteger { name, .. } => (
                name,
                format!("the value lands in shell arithmetic: pass a whole number (`--var {name}=3`)"),
            ),
            EscapeError::Unsafe { name, .. } => (name, from_env(name)),
            EscapeError::Delimiter { name, .. } => (
                name,
                format!("pick a heredoc delimiter that no line of the value equals, or {}", from_env(name)),
            ),
            EscapeError::Lex(_) => (
                &String::new(),
                "fix the shell syntax of the `run` command".to_string(),
            ),
        };
        VarError::UnsafeRun {
            name: name.clone(),
            message: e.to_string(),
            help,
        }
    })
}

/// POSIX single-quote a value so that a shell reads it as one literal word.
pub fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Bind values to the declared vars.
///
/// `referenced` is the set of `{{names}}` found in the text that will be
/// substituted. Returns the value of every var that has one, or every
/// problem found (all of them, not just the first).
pub fn bind(
    declared: &[ProtoVar],
    supplied: &BTreeMap<String, String>,
    referenced: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, Vec<VarError>> {
    let mut errors = Vec::new();
    let mut values = BTreeMap::new();
    for (name, value) in supplied {
        if !declared.iter().any(|v| &v.name == name) {
            values.insert(name.clone(), value.clone());
        }
    }
    for var in declared {
        let value = supplied.get(&var.name).or(var.default.as_ref());
        match value {
            Some(value) => {
                errors.extend(check_value(var, value));
                values.insert(var.name.clone(), value.clone());
            }
            None if var.required || referenced.contains(&var.name) => {
                errors.push(VarError::Missing {
                    name: var.name.clone(),
                });
            }
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// The supplied vars that the formula does not declare: warnings, with a
/// did-you-mean over the declared names.
pub fn undeclared(declared: &[ProtoVar], supplied: &BTreeMap<String, String>) -> Vec<VarError> {
    let names: Vec<&str> = declared.iter().map(|v| v.name.as_str()).collect();
    supplied
        .keys()
        .filter(|name| !names.contains(&name.as_str()))
        .map(|name| VarError::Undeclared {
            name: name.clone(),
            suggestion: crate::formula::suggest::did_you_mean(name, names.iter().copied()),
        })
        .collect()
}

/// Check one value against a var's `enum`, `pattern` and `type`.
pub fn check_value(var: &ProtoVar, value: &str) -> Vec<VarError> {
    let mut errors = Vec::new();
    if let Some(allowed) = &var.enum_values {
        if !allowed.iter().any(|a| a == value) {
            errors.push(VarError::NotInEnum {
                name: var.name.clone(),
                value: value.to_string(),
                allowed: allowed.clone(),
            });
        }
    }
    if let Some(pattern) = &var.pattern {
        match anchored_regex(pattern) {
            Ok(re) if !re.is_match(value) => errors.push(VarError::PatternMismatch {
                name: var.name.clone(),
                value: value.to_string(),
                pattern: pattern.clone(),
            }),
            Ok(_) => {}
            Err(_) => errors.push(VarError::BadPattern {
                name: var.name.clone(),
                pattern: pattern.clone(),
            }),
        }
    }
    if let Some(expected) = &var.value_type {
        let ok = match expected.as_str() {
            "int" => value.trim().parse::<i64>().is_ok(),
            "bool" => matches!(value, "true" | "false"),
            _ => true,
        };
        if !ok {
            errors.push(VarError::WrongType {
                name: var.name.clone(),
                value: value.to_string(),
                expected: expected.clone(),
            });
        }
    }
    errors
}

/// A var `pattern` must match the whole value, as users expect from a
/// validation pattern (`[a-z]+` must not accept `abc!`).
pub fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str) -> ProtoVar {
        ProtoVar {
            name: name.into(),
            description: None,
            default: None,
            required: false,
            enum_values: None,
            pattern: None,
            value_type: None,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn supplied_beats_default_and_default_fills_in() {
        let mut a = var("a");
        a.default = Some("x".into());
        let mut b = var("b");
        b.default = Some("y".into());
        let got = bind(&[a, b], &map(&[("a", "1")]), &BTreeSet::new()).unwrap();
        assert_eq!(got, map(&[("a", "1"), ("b", "y")]));
    }

    #[test]
    fn required_or_referenced_without_value_is_missing() {
        let mut req = var("req");
        req.required = true;
        let referenced = var("used");
        let unused = var("unused");
        let errs = bind(
            &[req, referenced, unused],
            &BTreeMap::new(),
            &["used".to_string()].into_iter().collect(),
        )
        .unwrap_err();
        assert_eq!(
            errs,
            vec![
                VarError::Missing { name: "req".into() },
                VarError::Missing {
                    name: "used".into()
                }
            ]
        );
    }

    #[test]
    fn required_with_default_is_satisfied_by_the_default() {
        let mut v = var("period");
        v.required = true;
        v.default = Some("daily".into());
        assert_eq!(
            bind(&[v], &BTreeMap::new(), &BTreeSet::new()).unwrap(),
            map(&[("period", "daily")])
        );
    }

    #[test]
    fn enum_pattern_and_type_are_enforced() {
        let mut e = var("env");
        e.enum_values = Some(vec!["dev".into(), "prod".into()]);
        let mut p = var("ver");
        p.pattern = Some(r"\d+\.\d+".into());
        let mut t = var("n");
        t.value_type = Some("int".into());
        let errs = bind(
            &[e, p, t],
            &map(&[("env", "staging"), ("ver", "1.2x"), ("n", "three")]),
            &BTreeSet::new(),
        )
        .unwrap_err();
        assert_eq!(errs.len(), 3);
        assert!(matches!(errs[0], VarError::NotInEnum { .. }));
        assert!(matches!(errs[1], VarError::PatternMismatch { .. }));
        assert!(matches!(errs[2], VarError::WrongType { .. }));
    }

    #[test]
    fn undeclared_supplied_var_is_bound_with_a_suggestion() {
        let supplied = map(&[("featur", "x")]);
        let got = bind(&[var("feature")], &supplied, &BTreeSet::new()).unwrap();
        assert_eq!(got, supplied);
        let errs = undeclared(&[var("feature")], &supplied);
        assert_eq!(
            errs[0],
            VarError::Undeclared {
                name: "featur".into(),
                suggestion: Some("feature".into())
            }
        );
    }

    #[test]
    fn substitute_leaves_unknown_names() {
        let out = substitute("{{a}} and {{b}} and {{ c }}", &map(&[("a", "1")]));
        assert_eq!(out, "1 and {{b}} and {{ c }}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("plain-word"), "plain-word");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote("it's; rm -rf /"), r"'it'\''s; rm -rf /'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            substitute_shell("echo {{msg}}", &map(&[("msg", "$(id)")])).unwrap(),
            "echo '$(id)'"
        );
    }

    #[test]
    fn var_arg_parsing() {
        assert_eq!(parse_var_arg("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_var_arg("novalue").is_err());
        assert!(parse_var_arg("1x=2").is_err());
    }
}
