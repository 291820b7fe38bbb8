//! `gt doctor [--fix]` and `gt completion SHELL` (the script; the words come
//! from `gt_complete`).

use super::bd::CliError;
use super::gt_coord::finish;
use crate::coord::doctor::{self, Level, Options};
use clap::Args;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Repair what is safe to repair, and report each repair.
    #[arg(long)]
    pub fix: bool,
    /// Show every check, including those that pass (the default already does).
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(a: &DoctorArgs, json: bool) -> i32 {
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            return finish(
                json,
                Err(CliError::other(format!(
                    "cannot read the current directory: {e}"
                ))),
            )
        }
    };
    let opts = Options {
        fix: a.fix,
        ..Default::default()
    };
    let r = doctor::run(&cwd, &opts);
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        for f in &r.findings {
            let tag = match f.level {
                Level::Ok => "ok   ",
                Level::Warn => "WARN ",
                Level::Error => "ERROR",
                Level::Fixed => "FIXED",
            };
            println!("{tag} {:<20} {}", f.check, f.message);
            if let Some(fix) = &f.fix {
                if f.level == Level::Fixed {
                    println!("      repaired: {fix}");
                } else if f.level != Level::Ok {
                    println!(
                        "      fix: {fix}{}",
                        if f.level == Level::Warn && !a.fix && !f.manual {
                            " (gt doctor --fix)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        println!(
            "\n{} error(s), {} warning(s), {} repaired",
            r.errors(),
            r.warnings(),
            r.fixed()
        );
    }
    if r.errors() > 0 {
        1
    } else {
        0
    }
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// Print the completion script for `gt`: it asks `gt` itself for the words,
/// so rig names, bead ids, agents and formulas complete (see `gt_complete`).
pub fn completion(a: &CompletionArgs) -> i32 {
    match super::gt_complete::registration(a.shell) {
        Ok(script) => {
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
