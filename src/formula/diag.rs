//! Diagnostics: a code, a message, a primary span, secondary labels and a
//! help line. Rendered for people through miette, and as JSON for tools.

use super::codes::Code;
use super::source::{Sources, Span};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is. `None` only for problems with no source, such
    /// as a `--var` on the command line.
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.primary = Some(Label {
            span,
            message: label.into(),
        });
        self
    }

    pub fn label(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: label.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: file, position, code. Keeps output stable.
    fn sort_key(&self) -> (usize, usize, Code) {
        match &self.primary {
            Some(l) => (l.span.file(), l.span.start(), self.code),
            None => (usize::MAX, 0, self.code),
        }
    }
}

/// Sort diagnostics by position and drop exact duplicates.
pub fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| d.sort_key());
    diags.dedup();
}

pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

// ---------------------------------------------------------------------------
// Human rendering through miette.

mod human {
    use super::*;
    use miette::{LabeledSpan, NamedSource, SourceSpan};
    use std::fmt;

    /// One diagnostic bound to one file. Labels in other files become
    /// `related` diagnostics, each with its own source.
    #[derive(Debug)]
    struct Rendered {
        code: String,
        severity: miette::Severity,
        message: String,
        help: Option<String>,
        source: Option<NamedSource<String>>,
        labels: Vec<LabeledSpan>,
        related: Vec<Rendered>,
    }

    impl fmt::Display for Rendered {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // rustc style: the code leads the message.
            if self.code.is_empty() {
                f.write_str(&self.message)
            } else {
                write!(f, "[{}] {}", self.code, self.message)
            }
        }
    }

    impl std::error::Error for Rendered {}

    impl miette::Diagnostic for Rendered {
        fn severity(&self) -> Option<miette::Severity> {
            Some(self.severity)
        }
        fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            self.help
                .as_ref()
                .map(|h| Box::new(h) as Box<dyn fmt::Display>)
        }
        fn source_code(&self) -> Option<&dyn miette::SourceCode> {
            self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
        }
        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            if self.labels.is_empty() {
                None
            } else {
                Some(Box::new(self.labels.iter().cloned()))
            }
        }
        fn related<'a>(
            &'a self,
        ) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
            if self.related.is_empty() {
                None
            } else {
                Some(Box::new(
                    self.related.iter().map(|r| r as &dyn miette::Diagnostic),
                ))
            }
        }
    }

    fn named(sources: &Sources, file: usize, clip: &Clip) -> NamedSource<String> {
        let f = sources.get(file);
        NamedSource::new(f.name.clone(), clip.text.clone()).with_language("toml")
    }

    /// Lines longer than this are shown as a window around their labels
    /// (miette cannot draw past 65,535 columns, and nobody can read it).
    const MAX_LINE: usize = 400;
    const WINDOW: usize = 120;

    /// A file's text with over-long lines clipped, and the map from file
    /// offsets to offsets in the clipped text.
    struct Clip {
        text: String,
        /// (file start, file end, clipped start) of every kept stretch.
        kept: Vec<(usize, usize, usize)>,
        clipped: bool,
    }

    impl Clip {
        fn new(text: &str, points: &[usize]) -> Clip {
            if !text.lines().any(|l| l.len() > MAX_LINE) {
                return Clip {
                    text: text.to_string(),
                    kept: vec![(0, text.len(), 0)],
                    clipped: false,
                };
            }
            let mut out = String::new();
            let mut kept = Vec::new();
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                let end = start + line.len();
                if line.len() <= MAX_LINE {
                    kept.push((start, end, out.len()));
                    out.push_str(line);
                } else {
                    let centre = points
                        .iter()
                        .copied()
                        .find(|p| (start..end).contains(p))
                        .unwrap_or(start);
                    let floor = |mut i: usize| {
                        while !text.is_char_boundary(i) {
                            i -= 1;
                        }
                        i
                    };
                    let ws = floor(centre.saturating_sub(WINDOW).max(start));
                    let we = floor((ws + 2 * WINDOW).min(end));
                    if ws > start {
                        out.push('…');
                    }
                    kept.push((ws, we, out.len()));
                    out.push_str(&text[ws..we]);
                    if we < end {
                        out.push('…');
                        if line.ends_with('\n') {
                            out.push('\n');
                        }
                    }
                }
                start = end;
            }
            Clip {
                text: out,
                kept,
                clipped: true,
            }
        }

        /// Where file offset `p` lands in the clipped text (clamped into
        /// the window of its line).
        fn map(&self, p: usize) -> usize {
            let i = self.kept.partition_point(|(s, _, _)| *s <= p).max(1) - 1;
            let (s, e, at) = self.kept[i];
            at + p.min(e).saturating_sub(s)
        }

        fn span(&self, span: Span) -> SourceSpan {
            let (a, b) = (self.map(span.start()), self.map(span.end()));
            SourceSpan::new(a.into(), b.saturating_sub(a))
        }
    }

    fn build(d: &Diagnostic, sources: &Sources) -> Rendered {
        let severity = match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let mut help = d.help.clone();
        for note in &d.notes {
            let joined = match help.take() {
                Some(h) => format!("{h}\nnote: {note}"),
                None => format!("note: {note}"),
            };
            help = Some(joined);
        }
        let Some(primary) = &d.primary else {
            return Rendered {
                code: d.code.as_str().to_string(),
                severity,
                message: d.message.clone(),
                help,
                source: None,
                labels: Vec::new(),
                related: Vec::new(),
            };
        };
        let file = primary.span.file();
        let points: Vec<usize> = std::iter::once(primary.span)
            .chain(d.secondary.iter().map(|l| l.span))
            .filter(|s| s.file() == file)
            .map(|s| s.start())
            .collect();
        let clip = Clip::new(&sources.get(file).text, &points);
        if clip.clipped {
            let loc = super::locate(primary.span, sources);
            let note = format!(
                "note: long lines are clipped; the span starts at line {}, column {}",
                loc.line, loc.column
            );
            help = Some(match help.take() {
                Some(h) => format!("{h}\n{note}"),
                None => note,
            });
        }
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            non_empty(&primary.message),
            clip.span(primary.span),
        )];
        // Labels in other files, grouped per file, in order of appearance.
        let mut others: Vec<(usize, Vec<LabeledSpan>)> = Vec::new();
        for l in &d.secondary {
            if l.span.file() == file {
                labels.push(LabeledSpan::new_with_span(
                    non_empty(&l.message),
                    clip.span(l.span),
                ));
                continue;
            }
            // Same clipping as the related report's source below.
            let other = Clip::new(&sources.get(l.span.file()).text, &[]);
            let ls = LabeledSpan::new_with_span(non_empty(&l.message), other.span(l.span));
            if let Some((_, v)) = others.iter_mut().find(|(f, _)| *f == l.span.file()) {
                v.push(ls);
            } else {
                others.push((l.span.file(), vec![ls]));
            }
        }
        let related = others
            .into_iter()
            .map(|(f, labels)| Rendered {
                code: String::new(),
                severity: miette::Severity::Advice,
                message: format!("in {}", sources.get(f).name),
                help: None,
                source: Some(named(sources, f, &Clip::new(&sources.get(f).text, &[]))),
                labels,
                related: Vec::new(),
            })
            .collect();
        Rendered {
            code: d.code.as_str().to_string(),
            severity,
            message: d.message.clone(),
            help,
            source: Some(named(sources, file, &clip)),
            labels,
            related,
        }
    }

    fn non_empty(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_string())
    }

    /// Render for a terminal. `color` picks the themed or plain style.
    pub fn render(d: &Diagnostic, sources: &Sources, color: bool) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false);
        let mut out = String::new();
        let rendered = build(d, sources);
        if handler.render_report(&mut out, &rendered).is_err() {
            out = format!(
                "{}[{}]: {}\n",
                d.severity.as_str(),
                d.code.as_str(),
                d.message
            );
        }
        out
    }
}

pub use human::render as render_human;

/// Render every diagnostic for a terminal, followed by a one-line summary.
pub fn render_human_all(diags: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render_human(d, sources, color));
        out.push('\n');
    }
    out
}

/// Whether to colour output on stderr: a terminal, and `NO_COLOR` unset.
pub fn stderr_wants_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

// ---------------------------------------------------------------------------
// JSON rendering.

/// Version of the JSON diagnostic format; bump on incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct JsonLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub byte_start: usize,
    pub byte_end: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonLabel {
    #[serde(flatten)]
    pub location: JsonLocation,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<JsonLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<JsonLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub fn locate(span: Span, sources: &Sources) -> JsonLocation {
    let f = sources.get(span.file());
    let (line, column) = f.line_col(span.start());
    let (end_line, end_column) = f.line_col(span.end());
    JsonLocation {
        file: f.name.clone(),
        line,
        column,
        end_line,
        end_column,
        byte_start: span.start(),
        byte_end: span.end(),
    }
}

pub fn to_json(d: &Diagnostic, sources: &Sources) -> JsonDiagnostic {
    JsonDiagnostic {
        code: d.code.as_str(),
        name: d.code.name(),
        severity: d.severity,
        message: d.message.clone(),
        location: d.primary.as_ref().map(|l| locate(l.span, sources)),
        label: d
            .primary
            .as_ref()
            .map(|l| l.message.clone())
            .filter(|m| !m.is_empty()),
        labels: d
            .secondary
            .iter()
            .map(|l| JsonLabel {
                location: locate(l.span, sources),
                message: l.message.clone(),
            })
            .collect(),
        help: d.help.clone(),
        notes: d.notes.clone(),
    }
}
