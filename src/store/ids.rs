//! Issue ids (`<prefix>-<base36 hash>`, adaptive length) and timestamps.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const B36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Base36 rendering of the first bytes of `bytes`, `len` characters.
pub fn base36(bytes: &[u8], len: usize) -> String {
    // 8 bytes give 12 base36 digits, enough for the longest id.
    let mut n = u64::from_be_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        out.push(B36[(n % 36) as usize]);
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Hash length for a table that holds about `n` issues: 4 characters while
/// small, growing to 8, so a single new id collides with probability < 0.1%.
pub fn adaptive_len(n: u64) -> usize {
    let mut len = 4;
    while len < 8 && (n.saturating_mul(1000)) > 36u64.pow(len as u32) {
        len += 1;
    }
    len
}

static NONCE: AtomicU64 = AtomicU64::new(0);

/// A candidate id. `attempt` varies the nonce on a collision.
pub fn candidate(prefix: &str, seed: &str, len: usize, attempt: u32) -> String {
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(now_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(nonce.to_le_bytes());
    h.update(attempt.to_le_bytes());
    let digest = h.finalize();
    format!("{prefix}-{}", base36(&digest, len))
}

pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Current time as fixed-width RFC 3339 UTC with microseconds, e.g.
/// `2026-03-01T12:00:00.000000Z`. Fixed width makes string order time order.
pub fn now() -> String {
    format_micros((now_nanos() / 1000) as i64)
}

pub fn format_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parse the leading `YYYY-MM-DDTHH:MM:SS` of a timestamp into seconds since
/// the epoch (UTC). Used for ages (`wisp gc --age`).
pub fn parse_secs(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A valid prefix: a letter, then letters, digits, `_` (at most 16).
pub fn valid_prefix(p: &str) -> bool {
    let mut c = p.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic())
        && p.len() <= 16
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_sort() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_micros(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
        let t = now();
        assert_eq!(t.len(), 27);
        let secs = parse_secs(&t).unwrap();
        assert_eq!(format_micros(secs * 1_000_000)[..19], t[..19]);
    }

    #[test]
    fn ids_grow_with_the_table() {
        assert_eq!(adaptive_len(0), 4);
        assert_eq!(adaptive_len(1_000), 4);
        assert_eq!(adaptive_len(10_000), 5);
        assert_eq!(adaptive_len(100_000), 6);
        let id = candidate("bd", "x", 4, 0);
        assert!(id.starts_with("bd-") && id.len() == 7, "{id}");
        assert_ne!(candidate("bd", "x", 6, 0), candidate("bd", "x", 6, 0));
    }
}
