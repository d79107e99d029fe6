//! Event timestamps: read as leniently as pydantic does, written exactly as Python's `isoformat()`.
//!
//! Upstream stores aware UTC datetimes (`2026-02-16T11:12:33.324349+00:00`, fraction dropped when zero), but
//! hand-edited or foreign lines may carry `Z`, other offsets, naive values, dates or epoch numbers. A naive
//! value keeps being naive when re-written (as in Python) and is treated as UTC when compared.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use std::fmt;

/// A point in time as it appeared in an event line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    Aware(DateTime<FixedOffset>),
    Naive(NaiveDateTime),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: expected ISO 8601 such as 2026-02-16T11:12:33+00:00")]
pub struct TimestampError {
    pub input: String,
}

impl Timestamp {
    /// An aware UTC timestamp truncated to microseconds, the precision Python keeps.
    pub fn from_utc(at: DateTime<Utc>) -> Self {
        let micros = at.timestamp_subsec_micros();
        let at = at.with_nanosecond(micros * 1000).unwrap_or(at);
        Timestamp::Aware(at.fixed_offset())
    }

    /// Parses an ISO 8601 string the way pydantic's lax datetime mode does: `T` or space separator,
    /// optional seconds and fraction, `Z`/`±HH:MM`/`±HHMM`/`±HH` offsets, date-only (naive midnight), and
    /// a bare number of seconds (or milliseconds) since the epoch.
    pub fn parse(input: &str) -> Result<Self, TimestampError> {
        parse_iso(input.trim())
            .map(|(ts, _)| ts)
            .or_else(|| input.trim().parse::<f64>().ok().and_then(Self::from_epoch))
            .ok_or_else(|| TimestampError { input: input.to_owned() })
    }

    /// Like [`Timestamp::parse`] but also reports whether the input was a bare date, so a date-only
    /// `--until` can cover that whole day.
    pub fn parse_bound(input: &str) -> Result<(Self, bool), TimestampError> {
        parse_iso(input.trim()).ok_or_else(|| TimestampError { input: input.to_owned() })
    }

    /// Epoch seconds (or milliseconds when larger than 2e10, as pydantic decides) to aware UTC.
    pub fn from_epoch(value: f64) -> Option<Self> {
        if !value.is_finite() {
            return None;
        }
        let seconds = if value.abs() > 2e10 { value / 1000.0 } else { value };
        let whole = seconds.floor();
        let micros = ((seconds - whole) * 1e6).round() as u32;
        let (whole, micros) = if micros >= 1_000_000 { (whole + 1.0, 0) } else { (whole, micros) };
        if whole.abs() > 1e13 {
            return None;
        }
        DateTime::from_timestamp(whole as i64, micros * 1000).map(Self::from_utc)
    }

    /// The instant in UTC; naive values are taken to be UTC, as upstream's filters assume.
    pub fn to_utc(&self) -> DateTime<Utc> {
        match self {
            Timestamp::Aware(at) => at.with_timezone(&Utc),
            Timestamp::Naive(at) => Utc.from_utc_datetime(at),
        }
    }

    /// Python's `datetime.isoformat()`.
    pub fn isoformat(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (local, offset) = match self {
            Timestamp::Aware(at) => (at.naive_local(), Some(at.offset().local_minus_utc())),
            Timestamp::Naive(at) => (*at, None),
        };
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second()
        )?;
        let micros = local.nanosecond() / 1000;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        if let Some(seconds) = offset {
            let sign = if seconds < 0 { '-' } else { '+' };
            let seconds = seconds.abs();
            write!(f, "{sign}{:02}:{:02}", seconds / 3600, seconds / 60 % 60)?;
            if seconds % 60 != 0 {
                write!(f, ":{:02}", seconds % 60)?;
            }
        }
        Ok(())
    }
}

/// Returns the timestamp and whether the input was a bare date.
fn parse_iso(s: &str) -> Option<(Timestamp, bool)> {
    let b = s.as_bytes();
    let date = parse_date(b.get(..10)?)?;
    if b.len() == 10 {
        return Some((Timestamp::Naive(date.and_time(NaiveTime::MIN)), true));
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let mut pos = 11;
    let hour = two_digits(b, pos)?;
    expect(b, pos + 2, b':')?;
    let minute = two_digits(b, pos + 3)?;
    pos += 5;
    let mut second = 0;
    let mut micros = 0;
    if b.get(pos) == Some(&b':') {
        second = two_digits(b, pos + 1)?;
        pos += 3;
        if matches!(b.get(pos), Some(b'.') | Some(b',')) {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                return None;
            }
            // Python keeps microseconds; further digits are dropped.
            let digits = &s[start..pos.min(start + 6)];
            micros = digits.parse::<u32>().ok()? * 10u32.pow(6 - digits.len() as u32);
        }
    }
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    let local = date.and_time(time);
    let rest = &b[pos..];
    let offset = match rest {
        [] => return Some((Timestamp::Naive(local), false)),
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            let (h, m) = match tail {
                [_, _] => (two_digits(tail, 0)?, 0),
                [_, _, b':', _, _] => (two_digits(tail, 0)?, two_digits(tail, 3)?),
                [_, _, _, _] => (two_digits(tail, 0)?, two_digits(tail, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h as i32 * 3600 + m as i32 * 60)
        }
        _ => return None,
    };
    let offset = FixedOffset::east_opt(offset)?;
    let at = offset.from_local_datetime(&local).single()?;
    Some((Timestamp::Aware(at), false))
}

fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    NaiveDate::from_ymd_opt(year as i32, two_digits(b, 5)?, two_digits(b, 8)?).filter(|_| year >= 1)
}

fn two_digits(b: &[u8], at: usize) -> Option<u32> {
    match (b.get(at), b.get(at + 1)) {
        (Some(hi @ b'0'..=b'9'), Some(lo @ b'0'..=b'9')) => Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0')),
        _ => None,
    }
}

fn expect(b: &[u8], at: usize, byte: u8) -> Option<()> {
    (b.get(at) == Some(&byte)).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &str) -> String {
        Timestamp::parse(input).unwrap().isoformat()
    }

    #[test]
    fn upstream_format_round_trips() {
        for s in ["2026-02-16T11:12:33.324349+00:00", "2026-02-16T11:12:33+00:00", "2026-02-16T11:12:33.000001+00:00"] {
            assert_eq!(roundtrip(s), s);
        }
    }

    #[test]
    fn lenient_inputs_normalise_like_pydantic() {
        assert_eq!(roundtrip("2026-02-16T11:12:33Z"), "2026-02-16T11:12:33+00:00");
        assert_eq!(roundtrip("2026-02-16 11:12:33.5"), "2026-02-16T11:12:33.500000");
        assert_eq!(roundtrip("2026-02-16"), "2026-02-16T00:00:00");
        assert_eq!(roundtrip("2026-02-16T11:12+0200"), "2026-02-16T11:12:00+02:00");
        assert_eq!(roundtrip("2026-02-16T11:12:33.1234567-05:30"), "2026-02-16T11:12:33.123456-05:30");
        assert_eq!(roundtrip("1700000000"), "2023-11-14T22:13:20+00:00");
        assert_eq!(roundtrip("1700000000500"), "2023-11-14T22:13:20.500000+00:00");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "bogus",
            "2026-13-01",
            "2026-02-30T00:00:00",
            "2026-02-16T25:00",
            "2026-02-16T10:00:00+0",
            "2026-02-16X",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn naive_compares_as_utc_and_bounds_report_date_only() {
        let naive = Timestamp::parse("2026-02-16T10:00:00").unwrap();
        let aware = Timestamp::parse("2026-02-16T12:00:00+02:00").unwrap();
        assert_eq!(naive.to_utc(), aware.to_utc());
        assert!(Timestamp::parse_bound("2026-02-16").unwrap().1);
        assert!(!Timestamp::parse_bound("2026-02-16T00:00:00").unwrap().1);
    }
}
