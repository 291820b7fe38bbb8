//! Where a package comes from and how its files are fetched: a git URL
//! (any transport, through the user's `git`, via a mirror cache so later
//! installs work offline), `URL@tag|branch|commit`, a local folder, or a
//! `.tar.gz`.

use super::{PackageError, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Git {
        url: String,
        reference: Option<String>,
    },
    Folder(PathBuf),
    Tarball(PathBuf),
}

/// A package's files, fetched into a directory of their own.
pub struct Fetched {
    pub dir: PathBuf,
    /// The commit a git source resolved to.
    pub commit: Option<String>,
    /// A note for the user (e.g. "offline: used the cached copy").
    pub note: Option<String>,
    _scratch: tempfile::TempDir,
}

impl Source {
    /// Parse a SOURCE argument. Relative paths are taken from `base`.
    pub fn parse(spec: &str, base: &Path) -> Result<Source> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(PackageError::Usage(
                "the package source is empty; give a git URL, a folder or a .tar.gz".into(),
            ));
        }
        let (location, reference) = split_ref(spec);
        if is_url(location) {
            return Ok(Source::Git {
                url: location.to_string(),
                reference,
            });
        }
        let path = base.join(location);
        if path.is_dir() {
            let abs = path.canonicalize().unwrap_or(path);
            return Ok(match reference {
                Some(r) => Source::Git {
                    url: abs.display().to_string(),
                    reference: Some(r),
                },
                None => Source::Folder(abs),
            });
        }
        if path.is_file() && is_tarball(location) {
            return Ok(Source::Tarball(path.canonicalize().unwrap_or(path)));
        }
        Err(PackageError::Usage(format!(
            "`{spec}` is not a folder, a .tar.gz or a git URL (https://, ssh://, git@host:path, file://, git://)"
        )))
    }

    /// How the lock records the source (without the ref).
    pub fn location(&self) -> String {
        match self {
            Source::Git { url, .. } => url.clone(),
            Source::Folder(p) | Source::Tarball(p) => p.display().to_string(),
        }
    }

    pub fn reference(&self) -> Option<&str> {
        match self {
            Source::Git { reference, .. } => reference.as_deref(),
            _ => None,
        }
    }

    /// The directory relative dependency sources are taken from.
    pub fn base_dir(&self) -> Option<PathBuf> {
        match self {
            Source::Folder(p) => p.parent().map(Path::to_path_buf),
            Source::Tarball(p) => p.parent().map(Path::to_path_buf),
            Source::Git { url, .. } => {
                let local = url.strip_prefix("file://").unwrap_or(url);
                let p = Path::new(local);
                (p.is_absolute() && p.exists())
                    .then(|| p.parent().map(Path::to_path_buf))
                    .flatten()
            }
        }
    }

    /// The same source asking for another ref.
    pub fn at(&self, reference: Option<String>) -> Source {
        match self {
            Source::Git { url, .. } => Source::Git {
                url: url.clone(),
                reference,
            },
            other => other.clone(),
        }
    }

    /// Fetch the files. `commit` pins a git source to a locked commit.
    pub fn fetch(&self, commit: Option<&str>) -> Result<Fetched> {
        let scratch =
            tempfile::tempdir().map_err(|e| PackageError::io("a temporary directory", e))?;
        let dir = scratch.path().join("pkg");
        std::fs::create_dir_all(&dir)
            .map_err(|e| PackageError::io(dir.display().to_string(), e))?;
        let (commit, note) = match self {
            Source::Folder(src) => {
                copy_package_files(src, &dir)?;
                (None, None)
            }
            Source::Tarball(file) => {
                unpack_tarball(file, &dir)?;
                (None, None)
            }
            Source::Git { url, reference } => {
                let mirror = Mirror::open(url)?;
                let want = commit.or(reference.as_deref()).unwrap_or("HEAD");
                let resolved = mirror.resolve(want)?;
                if let (Some(locked), Some(r)) = (commit, reference) {
                    let now = mirror.resolve(r)?;
                    if now != locked {
                        return Err(PackageError::Resolve(format!(
                            "the source moved: `{url}@{r}` now points at {now}, but the lock has {locked}; if the new commit is intended, run `gt formula update`, else ask the publisher why the ref moved"
                        )));
                    }
                }
                mirror.export(&resolved, &dir)?;
                (Some(resolved), mirror.note)
            }
        };
        let dir = package_root(&dir);
        Ok(Fetched {
            dir,
            commit,
            note,
            _scratch: scratch,
        })
    }

    /// Version tags of a git source (for `update`), newest last.
    pub fn version_tags(&self) -> Result<Vec<(semver::Version, String)>> {
        let Source::Git { url, .. } = self else {
            return Ok(Vec::new());
        };
        let mirror = Mirror::open(url)?;
        let out = mirror.git(&["tag", "--list"])?;
        let mut tags: Vec<(semver::Version, String)> = out
            .lines()
            .filter_map(|t| {
                let v = semver::Version::parse(t.trim().trim_start_matches('v')).ok()?;
                Some((v, t.trim().to_string()))
            })
            .collect();
        tags.sort();
        Ok(tags)
    }
}

/// `URL@REF` -> (URL, REF). The `@` of `git@host:path` or `ssh://git@host`
/// is not a ref separator.
fn split_ref(spec: &str) -> (&str, Option<String>) {
    if let Some(i) = spec.rfind('@') {
        let (left, right) = (&spec[..i], &spec[i + 1..]);
        let userinfo = match left.split_once("://") {
            Some((_, rest)) => !rest.contains('/'),
            None => !left.contains('/') && !left.contains(':') && right.contains(':'),
        };
        if !left.is_empty() && !right.is_empty() && !right.contains(':') && !userinfo {
            return (left, Some(right.to_string()));
        }
    }
    (spec, None)
}

fn is_url(s: &str) -> bool {
    [
        "https://",
        "http://",
        "ssh://",
        "git://",
        "file://",
        "git+ssh://",
    ]
    .iter()
    .any(|p| s.starts_with(p))
        || scp_like(s)
}

/// `user@host:path`, as git accepts it.
fn scp_like(s: &str) -> bool {
    match s.split_once(':') {
        Some((host, path)) => {
            host.contains('@') && !host.contains('/') && !path.is_empty() && !path.starts_with("//")
        }
        None => false,
    }
}

fn is_tarball(s: &str) -> bool {
    s.ends_with(".tar.gz") || s.ends_with(".tgz")
}

/// Copy a package's manifest and top-level formula files (what gets
/// installed and locked; READMEs and the rest stay behind).
pub(super) fn copy_package_files(src: &Path, dst: &Path) -> Result<()> {
    let rd = std::fs::read_dir(src).map_err(|e| PackageError::io(src.display().to_string(), e))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if super::install::is_package_file(&name) && e.path().is_file() {
            std::fs::copy(e.path(), dst.join(&name))
                .map_err(|err| PackageError::io(e.path().display().to_string(), err))?;
        }
    }
    Ok(())
}

fn unpack_tarball(file: &Path, dst: &Path) -> Result<()> {
    let f =
        std::fs::File::open(file).map_err(|e| PackageError::io(file.display().to_string(), e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    // `unpack` refuses entries that would land outside `dst`.
    archive.unpack(dst).map_err(|e| {
        PackageError::io(
            format!("{} (is it a gzip-compressed tar?)", file.display()),
            e,
        )
    })
}

/// Archives often wrap the package in one top-level folder.
fn package_root(dir: &Path) -> PathBuf {
    if dir.join(super::MANIFEST).is_file() {
        return dir.to_path_buf();
    }
    let subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    match subdirs.as_slice() {
        [one] if one.join(super::MANIFEST).is_file() => one.clone(),
        _ => dir.to_path_buf(),
    }
}

/// A bare mirror of a git source in the user's cache. Fetching goes through
/// the user's `git`, so credential helpers, ssh-agent, `insteadOf` and
/// proxies behave as they do for `git` itself.
struct Mirror {
    url: String,
    path: PathBuf,
    note: Option<String>,
}

impl Mirror {
    fn open(url: &str) -> Result<Mirror> {
        let path = cache_dir()?.join(cache_key(url));
        let mut m = Mirror {
            url: url.to_string(),
            path,
            note: None,
        };
        if m.path.join("HEAD").is_file() {
            if let Err(e) = m.git(&["fetch", "--quiet", "--prune", "--force", "origin"]) {
                m.note = Some(format!("could not fetch ({e}); used the cached copy"));
            }
        } else {
            m.clone_fresh()?;
        }
        Ok(m)
    }

    fn clone_fresh(&self) -> Result<()> {
        let parent = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|e| PackageError::io(parent.display().to_string(), e))?;
        let tmp = tempfile::tempdir_in(parent)
            .map_err(|e| PackageError::io(parent.display().to_string(), e))?;
        let target = tmp.path().join("m.git");
        run_git(
            Command::new("git")
                .args(["clone", "--mirror", "--quiet", &self.url])
                .arg(&target),
            &self.url,
        )?;
        let _ = std::fs::remove_dir_all(&self.path);
        std::fs::rename(&target, &self.path)
            .map_err(|e| PackageError::io(self.path.display().to_string(), e))
    }

    fn git(&self, args: &[&str]) -> Result<String> {
        run_git(
            Command::new("git").arg("-C").arg(&self.path).args(args),
            &self.url,
        )
    }

    fn resolve(&self, rev: &str) -> Result<String> {
        self.git(&["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
            .map(|s| s.trim().to_string())
            .map_err(|_| {
                PackageError::Resolve(format!(
                    "`{}` has no tag, branch or commit `{rev}`; list its tags with `git ls-remote --tags {}`",
                    self.url, self.url
                ))
            })
    }

    fn export(&self, commit: &str, dst: &Path) -> Result<()> {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args(["archive", "--format=tar", commit])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| git_missing(&self.url, e))?;
        let stdout = child.stdout.take().ok_or_else(|| PackageError::Fetch {
            url: self.url.clone(),
            message: "git archive gave no output".into(),
        })?;
        let unpacked = tar::Archive::new(stdout).unpack(dst);
        let out = child
            .wait_with_output()
            .map_err(|e| git_missing(&self.url, e))?;
        if !out.status.success() {
            return Err(PackageError::Fetch {
                url: self.url.clone(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        unpacked.map_err(|e| PackageError::io(format!("unpacking {}", self.url), e))
    }
}

fn run_git(cmd: &mut Command, url: &str) -> Result<String> {
    let out = cmd
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| git_missing(url, e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(PackageError::Fetch {
            url: url.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn git_missing(url: &str, e: std::io::Error) -> PackageError {
    PackageError::Fetch {
        url: url.to_string(),
        message: format!("cannot run `git` ({e}); install git and make sure it is on PATH"),
    }
}

/// `GT_PACKAGE_CACHE`, else the user's cache directory.
fn cache_dir() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("GT_PACKAGE_CACHE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    dirs::cache_dir()
        .map(|d| d.join("gastown").join("formula-packages"))
        .ok_or_else(|| {
            PackageError::Usage("no cache directory; set GT_PACKAGE_CACHE or HOME".into())
        })
}

fn cache_key(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let stem: String = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("pkg")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect();
    let hash = hex::encode(Sha256::digest(url.as_bytes()));
    format!("{stem}-{}.git", &hash[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_split_only_where_they_can() {
        assert_eq!(
            split_ref("https://h/o/r.git@v1.0"),
            ("https://h/o/r.git", Some("v1.0".into()))
        );
        assert_eq!(
            split_ref("git@github.com:o/r.git"),
            ("git@github.com:o/r.git", None)
        );
        assert_eq!(
            split_ref("git@github.com:o/r.git@main"),
            ("git@github.com:o/r.git", Some("main".into()))
        );
        assert_eq!(
            split_ref("ssh://git@host/o/r"),
            ("ssh://git@host/o/r", None)
        );
        assert_eq!(
            split_ref("ssh://git@host/o/r@feature/x"),
            ("ssh://git@host/o/r", Some("feature/x".into()))
        );
        assert_eq!(split_ref("./kit"), ("./kit", None));
    }

    #[test]
    fn urls_are_recognised() {
        for u in [
            "https://h/r.git",
            "ssh://h/r",
            "git@h:o/r",
            "file:///tmp/r",
            "git://h/r",
        ] {
            assert!(is_url(u), "{u}");
        }
        for p in ["./kit", "/tmp/kit", "kit.tar.gz", "C:/x"] {
            assert!(!is_url(p), "{p}");
        }
    }

    #[test]
    fn unknown_sources_explain_what_is_accepted() {
        let e = Source::parse("no-such-thing", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a folder, a .tar.gz or a git URL"), "{e}");
    }
}
