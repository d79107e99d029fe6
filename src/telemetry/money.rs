//! Exact US-dollar amounts.
//!
//! Upstream sums `float`s, so `0.1 + 0.2` drifts and only rounding hides it. We keep integer zepto-dollars
//! (1e-21 USD): every per-token price in the LiteLLM table and every explicit cost an agent reports is
//! exact at that scale, sums never drift, and an `i128` still holds 1.7e17 USD. Amounts are rounded
//! (half to even) only for display. Arithmetic is checked: an amount or a sum beyond that range is an
//! error for the caller to report, never a silently saturated or wrapped total.

use std::fmt;

const SCALE_DIGITS: u32 = 21;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i128);

impl Money {
    pub const ZERO: Money = Money(0);

    /// The largest amount, about 1.7e17 USD.
    pub const MAX: Money = Money(i128::MAX);

    /// Parses a decimal such as `15.6`, `-0.25`, `1e-05` or `3.75E-6`. Digits beyond 21 decimal places are
    /// rounded half to even; magnitudes that do not fit (beyond [`Money::MAX`]) give `None`.
    pub fn parse(text: &str) -> Option<Money> {
        let text = text.trim();
        let (negative, unsigned) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i32>().ok()?),
            None => (unsigned, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        // The amount in zepto-dollars is digits × 10^shift.
        let digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
        let shift = i64::from(exponent) + i64::from(SCALE_DIGITS) - frac_part.len() as i64;
        let drop = usize::try_from(-shift).unwrap_or(0);
        let (kept, dropped) = digits.split_at(digits.len().saturating_sub(drop));
        let mut value: i128 = 0;
        for &d in kept {
            value = value.checked_mul(10)?.checked_add(i128::from(d))?;
        }
        if shift > 0 {
            let factor = u32::try_from(shift).ok().and_then(|s| 10i128.checked_pow(s));
            match factor.and_then(|f| value.checked_mul(f)) {
                Some(v) => value = v,
                None if value == 0 => {}
                None => return None,
            }
        } else if drop <= digits.len() && round_up(value, dropped) {
            // (When more digits are dropped than exist, the first dropped digit is an implicit 0.)
            value = value.checked_add(1)?;
        }
        Some(Money(if negative { -value } else { value }))
    }

    /// The exact decimal value of an `f64` as its shortest round-trip text (what Python prints), so
    /// `15.6` is 15.6 and not 15.5999999999999996447.
    pub fn from_f64(value: f64) -> Option<Money> {
        if !value.is_finite() {
            return None;
        }
        Money::parse(zmij::Buffer::new().format_finite(value))
    }

    /// `self × count`, or `None` when it does not fit.
    pub fn checked_times(self, count: i64) -> Option<Money> {
        self.0.checked_mul(i128::from(count)).map(Money)
    }

    /// `self + other`, or `None` when it does not fit.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self / divisor` (divisor > 0), rounded half to even.
    pub fn divided_by(self, divisor: i128) -> Money {
        let divisor = divisor.max(1);
        let (quotient, remainder) = (self.0 / divisor, self.0 % divisor);
        let twice = remainder.abs() * 2;
        if twice > divisor || (twice == divisor && quotient % 2 != 0) {
            Money(quotient + self.0.signum())
        } else {
            Money(quotient)
        }
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Rounds half to even to `places` decimals (≤ 21) and renders fixed-point, e.g. `31.2000`.
    pub fn to_fixed(self, places: u32) -> String {
        let places = places.min(SCALE_DIGITS);
        let rounded = self.divided_by(10i128.pow(SCALE_DIGITS - places)).0;
        let sign = if rounded < 0 { "-" } else { "" };
        let digits = rounded.unsigned_abs().to_string();
        if places == 0 {
            return format!("{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = places as usize + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - places as usize);
        format!("{sign}{int_part}.{frac_part}")
    }

    /// Rounded to `places` and converted to the nearest `f64` (for JSON output, as upstream's `round(x, 6)`).
    pub fn to_f64_rounded(self, places: u32) -> f64 {
        self.to_fixed(places).parse().unwrap_or(f64::MAX)
    }
}

/// Whether removing the `dropped` digits rounds `value` up under half-to-even.
fn round_up(value: i128, dropped: &[u8]) -> bool {
    match dropped.first() {
        None => false,
        Some(&d) if d > 5 => true,
        Some(&d) if d < 5 => false,
        Some(_) => dropped[1..].iter().any(|&d| d != 0) || value % 2 != 0,
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fixed(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn parses_decimals_and_exponents() {
        assert_eq!(m("15.6").to_fixed(6), "15.600000");
        assert_eq!(m("1e-05").to_fixed(6), "0.000010");
        assert_eq!(m("3.75E-6").to_fixed(8), "0.00000375");
        assert_eq!(m("-0.25").to_fixed(2), "-0.25");
        assert_eq!(m("5e-09").checked_times(1000).unwrap().to_fixed(6), "0.000005");
        assert_eq!(m("1e-22"), Money::ZERO);
        assert_eq!(m("1.5e-21"), m("2e-21"));
        assert_eq!(m("2.5e-21"), m("2e-21"));
        for bad in ["", "abc", "1.2.3", "--1", "1e", "."] {
            assert!(Money::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn sums_are_exact() {
        let total = Money::from_f64(0.1).unwrap().checked_add(Money::from_f64(0.2).unwrap()).unwrap();
        assert_eq!(total, m("0.3"));
        assert_eq!(total.to_f64_rounded(6), 0.3);
        let fifteen = Money::from_f64(15.6).unwrap();
        assert_eq!(fifteen.checked_add(fifteen).unwrap().to_f64_rounded(6), 31.2);
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(m("0.00005").to_fixed(4), "0.0000");
        assert_eq!(m("0.00015").to_fixed(4), "0.0002");
        assert_eq!(m("0.000151").to_fixed(4), "0.0002");
        assert_eq!(m("-0.00015").to_fixed(4), "-0.0002");
        assert_eq!(m("2.5").to_fixed(0), "2");
    }

    #[test]
    fn overflow_is_reported_never_saturated() {
        assert_eq!(Money::parse("1e300"), None);
        assert_eq!(Money::from_f64(1e308), None);
        assert_eq!(Money::parse("-1e300"), None);
        assert!(Money::from_f64(f64::NAN).is_none());
        let big = m("1e17");
        assert_eq!(big.checked_add(big), None);
        assert_eq!(big.checked_times(2), None);
        assert_eq!(big.checked_add(m("0.5")).unwrap().to_fixed(1), "100000000000000000.5");
        assert_eq!(Money::MAX.to_fixed(2), "170141183460469231.73");
    }
}
