//! `gt pour` and `gt wisp`: aliases of `bd mol pour` and `bd mol wisp`.

use super::bd::Ctx;
use super::bd_mol::{pour_cmd, PourArgs};

/// Run `gt pour` (`ephemeral = false`) or `gt wisp`. Returns the exit code.
pub fn run(args: &PourArgs, json: bool, ephemeral: bool) -> i32 {
    let ctx = Ctx {
        json,
        actor: None,
        readonly: false,
    };
    match pour_cmd(&ctx, args, ephemeral) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", e.message);
            if let Some(h) = &e.help {
                eprintln!("  help: {h}");
            }
            e.code
        }
    }
}
