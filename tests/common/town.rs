//! A town for integration tests: install, a rig from a local repo, and
//! helpers to run `gt`/`bd` against it.
#![allow(dead_code)]

use gastown::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const GT: &str = env!("CARGO_BIN_EXE_gt");
pub const BD: &str = env!("CARGO_BIN_EXE_bd");

pub fn run(bin: &str, dir: &Path, town: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("GT_TOWN", town)
        .env_remove("BEADS_DIR")
        .env_remove("GT_LEASE")
        .env_remove("GT_RIG")
        .env_remove("GT_POLECAT")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

pub fn text(o: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn ok(o: Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

pub fn source_repo(dir: &Path) -> PathBuf {
    let src = dir.join("src-repo");
    std::fs::create_dir_all(&src).unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ][..],
    ] {
        let o = Command::new("git")
            .args(args)
            .current_dir(&src)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    std::fs::write(src.join("README"), "app\n").unwrap();
    let o = Command::new("git")
        .args(["add", "."])
        .current_dir(&src)
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = Command::new("git")
        .args([
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "readme",
        ])
        .current_dir(&src)
        .output()
        .unwrap();
    assert!(o.status.success());
    src
}

pub struct TownT {
    pub _t: tempfile::TempDir,
    pub town: PathBuf,
}

pub fn setup() -> TownT {
    let t = tempfile::tempdir().unwrap();
    let town = t.path().join("town");
    let src = source_repo(t.path());
    ok(run(
        GT,
        t.path(),
        &town,
        &["--json", "install", town.to_str().unwrap()],
    ));
    ok(run(
        GT,
        &town,
        &town,
        &["--json", "rig", "add", "app", src.to_str().unwrap()],
    ));
    TownT { _t: t, town }
}

pub fn create(town: &Path, title: &str) -> String {
    let v = ok(run(BD, town, town, &["--json", "create", title]));
    v["id"].as_str().unwrap().to_string()
}

pub fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..600 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn store(town: &Path) -> Store {
    Store::open(&town.join(".beads")).unwrap()
}

/// Write `script` as `<town>/agent.sh`, register it as agent `fake`, and make
/// it the polecat role's agent.
pub fn install_fake_polecat_agent(town: &Path, script: &str) -> PathBuf {
    let path = town.join("agent.sh");
    std::fs::write(&path, script).unwrap();
    let _ = Command::new("chmod").arg("+x").arg(&path).status();
    ok(run(
        GT,
        town,
        town,
        &[
            "--json",
            "config",
            "agent",
            "set",
            "fake",
            path.to_str().unwrap(),
        ],
    ));
    ok(run(
        GT,
        town,
        town,
        &["--json", "config", "role", "polecat", "fake"],
    ));
    path
}
