//! The diagnostic code registry. Each code is stable once released, has an
//! entry in `docs/diagnostics.md`, and a fixture plus snapshots under
//! `tests/diagnostics/`. A test checks all three stay in step.

use super::diag::Severity;

macro_rules! codes {
    ($($code:ident $name:literal $sev:ident $summary:literal;)*) => {
        /// A stable diagnostic code such as `F0001`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($code),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code)),* }
            }

            /// Kebab-case name, used in SARIF rule ids and docs anchors.
            pub fn name(self) -> &'static str {
                match self { $(Code::$code => $name),* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$code => Severity::$sev),* }
            }

            pub fn summary(self) -> &'static str {
                match self { $(Code::$code => $summary),* }
            }

            /// Where this code is documented: `docs/diagnostics.md#f0031`.
            pub fn docs_anchor(self) -> String {
                format!("docs/diagnostics.md#{}", self.as_str().to_lowercase())
            }
        }
    };
}

codes! {
    // Loading and parsing.
    F0001 "syntax-error" Error "the file is not valid TOML or JSON";
    F0002 "not-utf8" Error "the file is not UTF-8 text";
    F0003 "empty-file" Error "the file is empty";
    F0004 "file-too-large" Error "the file is larger than the documented limit";
    F0005 "unreadable-file" Error "the file could not be read";
    F0006 "unknown-key" Warning "a key that no formula reader understands";
    F0007 "key-case" Warning "a key that differs from a known key only by case";
    F0008 "wrong-type" Error "a value of the wrong type";
    F0009 "missing-field" Error "a required field is missing";
    F0010 "invalid-value" Error "a value outside the allowed set or range";
    // Resolution.
    F0011 "formula-not-found" Error "a formula name that is not on the search path";
    F0012 "extends-cycle" Error "formulas that extend each other in a cycle";
    F0013 "extends-too-deep" Error "an extends chain deeper than the limit";
    F0014 "invalid-formula-name" Error "a formula name that is not a plain file stem";
    // Structure.
    F0015 "duplicate-step-id" Error "two steps with the same id";
    F0016 "unknown-dependency" Error "a dependency on a step that does not exist";
    F0017 "self-dependency" Error "a step that depends on itself";
    F0018 "dependency-cycle" Error "steps that depend on each other in a cycle";
    F0019 "undeclared-var" Warning "a `{{var}}` that the formula never declares";
    F0020 "unused-var" Warning "a declared var that nothing uses";
    F0021 "required-with-default" Warning "a var that is both required and defaulted";
    F0022 "invalid-pattern" Error "a var pattern that is not a valid regex";
    F0023 "default-not-in-enum" Error "a var default outside its enum";
    F0024 "default-pattern-mismatch" Error "a var default that does not match its pattern";
    F0025 "version-below-one" Error "a formula version below 1";
    F0026 "name-stem-mismatch" Warning "a formula name that differs from its file stem";
    F0027 "no-steps" Error "a formula with nothing to run";
    F0028 "unknown-formula-type" Error "a formula type that does not exist";
    F0029 "unknown-step-type" Warning "a step type that is not an issue type";
    // Binding vars at cook and pour.
    F0030 "missing-var" Error "a required var with no value";
    F0031 "invalid-var-value" Error "a var value that breaks the var's rules";
    F0032 "undeclared-var-arg" Warning "a `--var` for a var the formula does not declare";
    // Mini-languages and transforms.
    F0033 "invalid-range" Error "a loop range that does not parse or evaluate";
    F0034 "invalid-condition" Error "a step condition that does not parse";
    F0035 "invalid-runtime-condition" Error "a loop `until` or `compose.gate` condition that does not parse";
    F0036 "invalid-glob" Error "a target glob that does not parse";
    F0037 "invalid-waits-for" Error "a `waits_for` that does not parse or names no step";
    F0038 "invalid-duration" Error "a gate timeout that is not a duration";
    F0039 "invalid-loop" Error "a loop without exactly one of count, range, until, or without a body";
    F0040 "too-many-steps" Error "a formula that would generate more steps than the cap";
    F0041 "wrong-formula-type" Error "an expansion or aspect reference to a formula of another type";
    F0042 "unknown-target" Error "a compose rule that names a step that does not exist";
    F0043 "dropped-dependency" Warning "a transform removed a step that others depended on";
    F0044 "invalid-on-complete" Error "an on_complete block with a missing or conflicting field";
    F0045 "unknown-gate-type" Warning "a gate type that nothing resolves";
    F0046 "unmatched-advice" Warning "an advice rule or map selector that matches no step";
    F0047 "invalid-convoy" Error "a convoy synthesis that names an unknown leg";
    // Shell commands.
    F0048 "unsafe-placeholder" Error "a `{{var}}` in a `run` command where no escape is safe";
    F0049 "invalid-shell" Error "a `run` command that does not lex as shell";
    F0050 "reserved-var-env" Warning "a var whose environment name is reserved";
    // Ids and files.
    F0051 "invalid-step-id" Error "a step id the runtime cannot use as a bead id, file name or git ref";
    F0052 "untitled-step" Warning "a step without a `title` (its id is used)";
    F0053 "directory-loop" Warning "a directory symlink that leads back into the walk (`lint DIR`)";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sequential_and_names_unique() {
        let mut names = std::collections::BTreeSet::new();
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_str(), format!("F{:04}", i + 1));
            assert!(names.insert(code.name()), "duplicate name {}", code.name());
        }
    }
}
