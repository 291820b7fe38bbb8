//! `bd --json` carries beads' field names and shapes (`IssueWithCounts` for
//! list/ready, `IssueDetails` for show, `BlockedIssue`, `EpicStatus`,
//! comments), snapshotted; and `bd list`/`bd ready` filter as beads does.

mod common;
use common::Bd;
use serde_json::Value;

/// Timestamps differ per run: replace every `*_at` value.
fn stable(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k.ends_with("_at") && x.is_string() {
                        *x = Value::String("[time]".into());
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// An epic with two children, a blocker between them, a label, a comment,
/// metadata and a closed issue; built with the commands a user runs.
fn store() -> (tempfile::TempDir, Bd) {
    let d = tempfile::tempdir().unwrap();
    let bd = Bd::new(d.path());
    bd.ok(&["init", "--prefix", "bj"]);
    bd.ok(&[
        "create",
        "Login epic",
        "-t",
        "epic",
        "-p",
        "1",
        "--id",
        "bj-epic",
    ]);
    bd.ok(&[
        "create",
        "Design the form",
        "--id",
        "bj-form",
        "--parent",
        "bj-epic",
        "-d",
        "Fields and validation",
        "-l",
        "ui,web",
        "-a",
        "alice",
    ]);
    bd.ok(&[
        "create",
        "Wire the API",
        "--id",
        "bj-api",
        "--parent",
        "bj-epic",
        "--metadata",
        r#"{"estimate": 3}"#,
    ]);
    bd.ok(&["dep", "add", "bj-api", "bj-form"]);
    bd.ok(&["comment", "bj-form", "looks", "good"]);
    bd.ok(&["create", "Old chore", "-t", "chore", "--id", "bj-old"]);
    bd.ok(&["close", "bj-old", "-r", "done already"]);
    (d, bd)
}

fn json(bd: &Bd, args: &[&str]) -> Value {
    stable(bd.ok(args).json())
}

#[test]
fn list_rows_carry_counts_dependency_records_and_parent() {
    let (_d, bd) = store();
    insta::assert_json_snapshot!(
        "list",
        json(&bd, &["list", "--json", "--tree=false", "--limit", "0"])
    );
    let rows = bd.ok(&["list", "--json"]).json();
    let api = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "bj-api")
        .unwrap();
    assert_eq!(api["dependencies"][0]["depends_on_id"], "bj-epic");
    assert_eq!(api["dependency_count"], 1, "blocks edges only: {api}");
    assert_eq!(api["parent"], "bj-epic");
    // Like beads: closed issues only with --all or --status.
    let ids = |args: &[&str]| -> Vec<String> {
        bd.ok(args)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!ids(&["list", "--json"]).contains(&"bj-old".to_string()));
    assert!(ids(&["list", "--all", "--json"]).contains(&"bj-old".to_string()));
    assert_eq!(ids(&["list", "--status", "closed", "--json"]), ["bj-old"]);
}

#[test]
fn show_is_an_array_of_issue_details() {
    let (_d, bd) = store();
    insta::assert_json_snapshot!(
        "show_form",
        json(
            &bd,
            &[
                "show",
                "bj-form",
                "--json",
                "--include-dependents",
                "--include-comments"
            ]
        )
    );
    insta::assert_json_snapshot!("show_epic", json(&bd, &["show", "bj-epic", "--json"]));
    // Without --include-comments the count is there, the bodies are not.
    let plain = bd.ok(&["show", "bj-form", "--json"]).json();
    assert_eq!(plain[0]["comment_count"], 1);
    assert!(plain[0].get("comments").is_none(), "{plain}");
}

#[test]
fn ready_blocked_epic_and_comments_shapes() {
    let (_d, bd) = store();
    insta::assert_json_snapshot!("ready", json(&bd, &["ready", "--limit", "1000", "--json"]));
    insta::assert_json_snapshot!("blocked", json(&bd, &["blocked", "--json"]));
    insta::assert_json_snapshot!("epic_status", json(&bd, &["epic", "status", "--json"]));
    insta::assert_json_snapshot!("comments", json(&bd, &["comments", "bj-form", "--json"]));
}

#[test]
fn create_and_update_print_beads_issues() {
    let (_d, bd) = store();
    insta::assert_json_snapshot!(
        "create",
        json(
            &bd,
            &["create", "Ship it", "-t", "feature", "-p", "0", "--id", "bj-ship", "--json"]
        )
    );
    insta::assert_json_snapshot!(
        "update",
        json(
            &bd,
            &[
                "update",
                "bj-ship",
                "--status",
                "in_progress",
                "--acceptance-criteria",
                "It ships",
                "--json"
            ]
        )
    );
    let added = bd
        .ok(&[
            "comments", "add", "bj-ship", "on", "it", "--author", "bob", "--json",
        ])
        .json();
    assert_eq!(
        (added["author"].as_str(), added["text"].as_str()),
        (Some("bob"), Some("on it"))
    );
}

#[test]
fn close_reopen_and_stats_speak_beads() {
    let (_d, bd) = store();
    let closed = bd
        .ok(&["close", "bj-form", "-r", "shipped", "--json"])
        .json();
    assert_eq!(closed[0]["id"], "bj-form");
    assert_eq!(closed[0]["status"], "closed");
    assert_eq!(closed[0]["close_reason"], "shipped");
    assert_eq!(closed[0]["outcome"], "closed");
    let reopened = bd.ok(&["reopen", "bj-form", "--json"]).json();
    assert_eq!(
        (
            reopened[0]["status"].as_str(),
            reopened[0]["reopened"].as_bool()
        ),
        (Some("open"), Some(true))
    );
    let mut stats = bd.ok(&["stats", "--json"]).json();
    stats["summary"]["average_lead_time_hours"] = Value::from("[hours]");
    insta::assert_json_snapshot!("stats_summary", stats["summary"]);
}

#[test]
fn epic_close_eligible_closes_epics_whose_children_are_closed() {
    let (_d, bd) = store();
    assert_eq!(
        bd.ok(&["epic", "close-eligible", "--json"]).json(),
        serde_json::json!([])
    );
    bd.ok(&["close", "bj-form", "bj-api"]);
    let status = bd
        .ok(&["epic", "status", "--eligible-only", "--json"])
        .json();
    assert_eq!(status[0]["eligible_for_close"], true, "{status}");
    let dry = bd
        .ok(&["epic", "close-eligible", "--dry-run", "--json"])
        .json();
    assert_eq!(dry[0]["epic"]["id"], "bj-epic");
    assert_eq!(
        bd.ok(&["show", "bj-epic", "--json"]).json()[0]["status"],
        "open"
    );
    let done = bd.ok(&["epic", "close-eligible", "--json"]).json();
    assert_eq!(done, serde_json::json!({"closed": ["bj-epic"], "count": 1}));
    assert_eq!(
        bd.ok(&["show", "bj-epic", "--json"]).json()[0]["status"],
        "closed"
    );
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn in_progress_includes_hooked_work_and_ready_lists_only_work() {
    let (_d, bd) = store();
    bd.ok(&["update", "bj-form", "--status", "hooked"]);
    bd.ok(&["create", "Working", "--id", "bj-wip"]);
    bd.ok(&["update", "bj-wip", "--status", "in_progress"]);
    let wip = bd.ok(&["list", "--status=in_progress", "--json"]).json();
    assert_eq!(ids(&wip), ["bj-form", "bj-wip"], "{wip}");
    for (t, id) in [
        ("convoy", "bj-convoy"),
        ("molecule", "bj-mol"),
        ("gate", "bj-gate"),
        ("message", "bj-msg"),
        ("merge-request", "bj-mr"),
    ] {
        bd.ok(&["create", id, "-t", t, "--id", id]);
    }
    bd.ok(&["create", "A wisp", "--ephemeral", "--id", "bj-wisp"]);
    let ready = ids(&bd.ok(&["ready", "--json"]).json());
    assert_eq!(ready, ["bj-epic"], "only work is ready: {ready:?}");
}

#[test]
fn delete_accepts_force_and_update_edits_every_text_field_beads_ui_sends() {
    let (_d, bd) = store();
    for (flag, field) in [
        ("--title", "title"),
        ("--description", "description"),
        ("--acceptance-criteria", "acceptance_criteria"),
        ("--notes", "notes"),
        ("--design", "design"),
    ] {
        bd.ok(&["--sandbox", "update", "bj-api", flag, "edited"]);
        let v = bd.ok(&["show", "bj-api", "--json"]).json();
        assert_eq!(v[0][field], "edited", "{flag}");
    }
    bd.ok(&["--sandbox", "delete", "bj-old", "--force"]);
    assert_eq!(bd.run(&["show", "bj-old"]).code, 1);
}

#[test]
fn dep_and_label_commands_answer_in_beads_shapes() {
    let (_d, bd) = store();
    let added = bd.ok(&["dep", "add", "bj-form", "bj-old", "--json"]).json();
    assert_eq!(
        (
            &added["status"],
            &added["blocked_id"],
            &added["blocker_id"],
            &added["type"]
        ),
        (
            &Value::from("added"),
            &Value::from("bj-form"),
            &Value::from("bj-old"),
            &Value::from("blocks")
        )
    );
    let down = bd.ok(&["dep", "list", "bj-api", "--json"]).json();
    let pairs: Vec<(String, String)> = down
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().into(),
                d["dependency_type"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("bj-epic".into(), "parent-child".into()),
            ("bj-form".into(), "blocks".into())
        ]
    );
    let up = bd
        .ok(&["dep", "list", "bj-form", "--direction", "up", "--json"])
        .json();
    assert_eq!(up[0]["id"], "bj-api");
    let only = bd
        .ok(&["dep", "list", "bj-api", "--type", "blocks", "--json"])
        .json();
    assert_eq!(only.as_array().unwrap().len(), 1);
    let removed = bd
        .ok(&["dep", "remove", "bj-form", "bj-old", "--json"])
        .json();
    assert_eq!(
        (&removed["status"], &removed["depends_on_id"]),
        (&Value::from("removed"), &Value::from("bj-old"))
    );
    let labeled = bd
        .ok(&["label", "add", "bj-api", "backend", "--json"])
        .json();
    assert_eq!(
        labeled,
        serde_json::json!([{"status": "added", "issue_id": "bj-api", "label": "backend"}])
    );
    assert_eq!(
        bd.ok(&["label", "list", "bj-api", "--json"]).json(),
        serde_json::json!(["backend"])
    );
}
