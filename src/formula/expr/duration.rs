//! Gate timeouts (`gate.timeout`): `30m`, `24h`, `90s`, `1h30m`, `2d`.
//!
//! A duration is one or more `<whole number><unit>` parts with units `d`
//! (24h), `h`, `m`, `s`, largest unit first, each unit at most once, no
//! spaces inside. The result is a positive number of seconds.
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`): beads
//! used Go's `time.ParseDuration` and silently turned anything unparsable
//! (`soon`, `2d`, `-5m`) into 0. We reject unparsable, zero and negative
//! values, accept `d`, and reject Go's sub-second units (`ms`, `us`, `ns`)
//! and fractions (`1.5h`: write `1h30m`).

use super::{from_pest, trim_with_offset, ExprError};
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/duration.pest"]
struct DurationParser;

const HELP: &str =
    "write a whole number followed by a unit, largest first: `d` (days), `h`, `m`, `s`; e.g. `30m`, `24h`, `1h30m`, `2d`";

/// Parse a duration into seconds.
pub fn parse_duration(input: &str) -> Result<u64, ExprError> {
    let (offset, text) = trim_with_offset(input);
    if text.is_empty() {
        return Err(ExprError::new("empty duration", 0..input.len()).with_help(HELP));
    }
    if text.starts_with('-') {
        return Err(
            ExprError::new("a timeout cannot be negative", offset..offset + 1).with_help(HELP),
        );
    }
    for unit in ["ms", "us", "ns", "µs"] {
        if let Some(i) = text.find(unit) {
            if text[..i].ends_with(|c: char| c.is_ascii_digit()) {
                return Err(ExprError::new(
                    "sub-second units are not supported for timeouts",
                    offset + i..offset + i + unit.len(),
                )
                .with_help(HELP));
            }
        }
    }
    let mut pairs = DurationParser::parse(Rule::duration, text).map_err(|e| {
        let mut err = from_pest(&e, text, |r| match r {
            Rule::unit => Some("a unit (d, h, m, s)"),
            Rule::number | Rule::part => Some("a number"),
            Rule::EOI => Some("end of duration"),
            _ => None,
        });
        let rest = &text[err.span.start..];
        if rest.starts_with('.') {
            err.message = "fractions are not supported".to_string();
        } else if !text.starts_with(|c: char| c.is_ascii_digit()) {
            err.message = format!("invalid duration `{text}`");
            err.span = 0..text.len();
        }
        err.with_help(HELP).shifted(offset)
    })?;
    let root = pairs.next().expect("grammar: duration");
    let mut total: u64 = 0;
    let mut last_rank = usize::MAX;
    for part in root.into_inner() {
        if part.as_rule() != Rule::part {
            continue;
        }
        let span = part.as_span().start() + offset..part.as_span().end() + offset;
        let mut inner = part.into_inner();
        let number = inner.next().expect("grammar: part number").as_str();
        let unit = inner.next().expect("grammar: part unit").as_str();
        let (rank, factor) = match unit {
            "d" => (0, 86_400),
            "h" => (1, 3_600),
            "m" => (2, 60),
            _ => (3, 1),
        };
        if last_rank != usize::MAX && rank <= last_rank {
            let what = if rank == last_rank {
                "repeated"
            } else {
                "out of order"
            };
            return Err(ExprError::new(format!("unit `{unit}` is {what}"), span).with_help(HELP));
        }
        last_rank = rank;
        let overflow = || ExprError::new("duration is too large", span.clone());
        let n: u64 = number.parse().map_err(|_| overflow())?;
        let secs = n.checked_mul(factor).ok_or_else(overflow)?;
        total = total.checked_add(secs).ok_or_else(overflow)?;
    }
    if total == 0 {
        return Err(ExprError::new(
            "a timeout must be longer than zero",
            offset..offset + text.len(),
        )
        .with_help("remove `timeout` for a gate that never times out"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms_convert_to_seconds() {
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("1d2h3m4s").unwrap(), 93_784);
        assert_eq!(parse_duration(" 5m ").unwrap(), 300);
    }

    #[test]
    fn soon_is_an_error_not_zero() {
        // edge case 7.12: beads turned `soon` into timeout 0 without error
        let e = parse_duration("soon").unwrap_err();
        assert_eq!(e.message, "invalid duration `soon`");
        assert_eq!(e.span, 0..4);
        assert!(e.help.unwrap().contains("`1h30m`"));
    }

    #[test]
    fn empty_negative_and_zero_are_errors() {
        assert_eq!(parse_duration("").unwrap_err().message, "empty duration");
        let e = parse_duration("-5m").unwrap_err();
        assert_eq!(e.message, "a timeout cannot be negative");
        assert_eq!(e.span, 0..1);
        assert!(parse_duration("0s")
            .unwrap_err()
            .message
            .contains("longer than zero"));
        assert!(parse_duration("0h0m").is_err());
    }

    #[test]
    fn missing_or_unknown_units_are_errors() {
        let e = parse_duration("30").unwrap_err();
        assert_eq!(e.span, 2..2);
        assert!(e.message.contains("a unit"), "{}", e.message);
        let e = parse_duration("30x").unwrap_err();
        assert_eq!(e.span, 2..3);
        let e = parse_duration("1h 30m").unwrap_err();
        assert_eq!(e.span, 2..3);
    }

    #[test]
    fn sub_second_units_and_fractions_are_rejected() {
        let e = parse_duration("500ms").unwrap_err();
        assert_eq!(e.message, "sub-second units are not supported for timeouts");
        assert_eq!(e.span, 3..5);
        assert_eq!(
            parse_duration("1.5h").unwrap_err().message,
            "fractions are not supported"
        );
    }

    #[test]
    fn units_must_be_descending_and_unique() {
        let e = parse_duration("30m1h").unwrap_err();
        assert_eq!(e.message, "unit `h` is out of order");
        assert_eq!(e.span, 3..5);
        assert_eq!(
            parse_duration("1h1h").unwrap_err().message,
            "unit `h` is repeated"
        );
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(parse_duration("99999999999999999999s")
            .unwrap_err()
            .message
            .contains("too large"));
        assert!(parse_duration("999999999999999999d")
            .unwrap_err()
            .message
            .contains("too large"));
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = ["30m", "24h", "90s", "1h30m", "2d", "soon", "500ms"];
        for input in super::super::fuzz::inputs(&seeds, 3000, 0x5eed_0006) {
            if let Err(e) = parse_duration(&input) {
                super::super::fuzz::check_span(&input, &e);
            }
        }
    }
}
