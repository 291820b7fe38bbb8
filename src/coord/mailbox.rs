//! Keeping an inbox tidy: mark read, archive (out of the inbox, still
//! readable by id), clear an address's inbox, drain stale notifications.

use super::mail::mark_read_tx;
use super::Result;
use crate::store::{ids, Store};
use rusqlite::params;

/// Mark messages read. Returns how many were unread.
pub fn mark_read(store: &mut Store, ids: &[i64]) -> Result<usize> {
    for id in ids {
        super::mail::get(store.conn(), *id)?;
    }
    let before = unread_of(store, ids)?;
    store.write(|tx| mark_read_tx(tx, ids))?;
    Ok(before)
}

fn unread_of(store: &Store, ids: &[i64]) -> Result<usize> {
    let mut n = 0;
    for id in ids {
        n += usize::from(!super::mail::get(store.conn(), *id)?.read);
    }
    Ok(n)
}

/// Archive messages: read, and out of the inbox.
pub fn archive(store: &mut Store, ids: &[i64]) -> Result<usize> {
    for id in ids {
        super::mail::get(store.conn(), *id)?;
    }
    store.write(|tx| {
        mark_read_tx(tx, ids)?;
        let mut st = tx.conn().prepare_cached(
            "UPDATE mail SET archived_at = ?2 WHERE id = ?1 AND archived_at IS NULL",
        )?;
        let mut n = 0;
        for id in ids {
            n += st.execute(params![id, tx.now])?;
        }
        Ok(n)
    })
}

/// Empty `address`'s inbox: archive every message (or delete them).
pub fn clear(store: &mut Store, address: &str, keep_archived: bool) -> Result<usize> {
    store.write(|tx| {
        let n = if keep_archived {
            tx.conn().execute(
                "UPDATE mail SET unread = 0, read_at = COALESCE(read_at, ?2), archived_at = ?2
                 WHERE recipient = ?1 AND archived_at IS NULL",
                params![address, tx.now],
            )?
        } else {
            tx.conn()
                .execute("DELETE FROM mail WHERE recipient = ?1", params![address])?
        };
        Ok(n)
    })
}

/// Archive `address`'s read mail and its notifications older than
/// `max_age_secs`; unread tasks, escalations and handoffs stay.
pub fn drain(store: &mut Store, address: &str, max_age_secs: i64) -> Result<usize> {
    let now = ids::parse_secs(&ids::now()).unwrap_or(0);
    let cutoff = ids::format_micros((now - max_age_secs) * 1_000_000);
    store.write(|tx| {
        Ok(tx.conn().execute(
            "UPDATE mail SET unread = 0, read_at = COALESCE(read_at, ?3), archived_at = ?3
             WHERE recipient = ?1 AND archived_at IS NULL AND created_at < ?2
               AND (unread = 0 OR kind = 'notification')",
            params![address, cutoff, tx.now],
        )?)
    })
}
