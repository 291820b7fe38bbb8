//! A failed attempt, and the escalation that follows too many of them.
//!
//! The store decides retry or block in the step's transaction; when the
//! step is blocked, the overseer is mailed through the coordination mail
//! (the same inbox as every other message), in the same transaction.

use super::RuntimeError;
use crate::coord::address::Address;
use crate::coord::mail::{self, Outgoing};
use crate::store::leases::{FailOutcome, Failure};
use crate::store::Tx;

/// Record a failed attempt of lease `(step, gen)`; mail the overseer if
/// the step is now blocked.
pub fn fail_step(
    tx: &Tx<'_>,
    step: &str,
    gen: i64,
    f: &Failure<'_>,
) -> Result<FailOutcome, RuntimeError> {
    let outcome = tx.fail_step(step, gen, f)?;
    if let FailOutcome::Blocked { why, .. } = &outcome {
        let mut body = format!(
            "{why}\n\nThe step is now `blocked`. Look at it, fix the cause, then `bd update {step} --status open` to retry it."
        );
        if let Some(l) = f.log_path {
            body += &format!("\nSession log: {l}");
        }
        let to = Address::parse("overseer")
            .ok_or_else(|| RuntimeError::Io("the overseer address does not parse".into()))?;
        mail::send_tx(
            tx,
            &[to],
            &Outgoing {
                from: "supervisor".to_string(),
                to: "overseer".to_string(),
                subject: format!("Escalation: {step} is blocked"),
                body,
                kind: "escalation".to_string(),
                ..Default::default()
            },
        )?;
    }
    Ok(outcome)
}
