//! Source files and byte spans. Every diagnostic points into a
//! [`SourceFile`] held by a [`Sources`] table.

use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::Arc;

/// Formula files larger than this are refused before parsing: no real
/// formula comes close, and it bounds memory on hostile input.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024 * 1024;

pub type FileId = usize;

/// A byte range in one source file. Compact (12 bytes): every value in
/// the AST carries one, and loops can generate a million steps. Files are
/// capped at [`MAX_SOURCE_BYTES`], so offsets fit in `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            file: clamp(file),
            start: clamp(range.start),
            end: clamp(range.end.max(range.start)),
        }
    }

    pub fn file(&self) -> FileId {
        self.file as FileId
    }

    pub fn start(&self) -> usize {
        self.start as usize
    }

    pub fn end(&self) -> usize {
        self.end as usize
    }

    pub fn range(&self) -> Range<usize> {
        self.start()..self.end()
    }

    /// A span inside this one, from a byte range relative to its start
    /// (for errors inside a string value). Clamped to this span.
    pub fn sub(&self, inner: Range<usize>) -> Span {
        let start = (self.start() + inner.start).min(self.end());
        let end = (self.start() + inner.end).clamp(start, self.end());
        Span::new(self.file(), start..end)
    }
}

/// Where a file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    Disk(std::path::PathBuf),
    /// A formula embedded in the binary from `stdlib-formulas/`.
    Stdlib,
    /// Text supplied by a caller (tests, fuzzing).
    Memory,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Display name: the path as the user gave it, or `stdlib:<file>`.
    pub name: String,
    pub origin: Origin,
    pub text: Arc<str>,
    pub sha256: String,
    /// Byte offset of each line (`u32`: files are capped at
    /// [`MAX_SOURCE_BYTES`]; a 100,000-step file has 400,000 lines).
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, origin: Origin, text: impl Into<Arc<str>>) -> SourceFile {
        let text: Arc<str> = text.into();
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        SourceFile {
            name: name.into(),
            origin,
            text,
            sha256,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let at = u32::try_from(offset).unwrap_or(u32::MAX);
        let line = match self.line_starts.binary_search(&at) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        (line as u32 + 1, col as u32 + 1)
    }

    /// The file stem before `.formula.toml` / `.formula.json`.
    pub fn formula_stem(&self) -> Option<&str> {
        let base = self.name.rsplit(['/', '\\', ':']).next()?;
        base.strip_suffix(".formula.toml")
            .or_else(|| base.strip_suffix(".formula.json"))
    }
}

/// All files loaded during one compiler run, addressed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn text(&self, span: Span) -> &str {
        self.files[span.file()]
            .text
            .get(span.range())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("x", Origin::Memory, "ab\ncdé\nf");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(7), (2, 4));
        assert_eq!(f.line_col(8), (3, 1));
        assert_eq!(f.line_col(100), (3, 2));
    }

    #[test]
    fn stem() {
        let f = SourceFile::new("a/b/mol-x.formula.toml", Origin::Memory, "");
        assert_eq!(f.formula_stem(), Some("mol-x"));
    }
}
