//! Fixed-point prices: `i64` with nine decimal places (1e-9).
//!
//! The data path never touches floats; parsing and display convert at the edges, exactly.

use std::fmt;
use std::str::FromStr;

/// Number of decimal places carried by a [`Price`].
pub const PRICE_DECIMALS: u32 = 9;
/// One unit of price in raw fixed-point steps (10^9).
pub const PRICE_SCALE: i64 = 1_000_000_000;

/// A fixed-point price: `raw / 10^9`.
///
/// ```
/// use market_data_pipeline::Price;
/// let p: Price = "101.25".parse().unwrap();
/// assert_eq!(p.raw(), 101_250_000_000);
/// assert_eq!(p.to_string(), "101.25");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Price(pub i64);

/// Why a price string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceParseError {
    /// The string was empty.
    #[error("empty price")]
    Empty,
    /// A character that is not a digit, sign or single decimal point.
    #[error("invalid character {ch:?} at byte {at} in price {text:?}")]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        at: usize,
        /// The whole input.
        text: String,
    },
    /// More than nine decimal places (the value cannot be represented exactly).
    #[error("price {0:?} has more than 9 decimal places")]
    TooPrecise(String),
    /// Outside the range of `i64` steps.
    #[error("price {0:?} is out of range")]
    OutOfRange(String),
}

impl Price {
    /// Zero.
    pub const ZERO: Price = Price(0);

    /// From raw fixed-point steps.
    #[inline]
    pub const fn from_raw(raw: i64) -> Price {
        Price(raw)
    }

    /// Raw fixed-point steps.
    #[inline]
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// From a whole number of units (e.g. dollars). Saturates on overflow.
    #[inline]
    pub const fn from_units(units: i64) -> Price {
        Price(units.saturating_mul(PRICE_SCALE))
    }

    /// Lossy conversion for display, statistics or plotting; never used on the data path.
    #[inline]
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / PRICE_SCALE as f64
    }

    /// Nearest price to `v` (edges only). Non-finite or out-of-range values give `None`.
    pub fn from_f64(v: f64) -> Option<Price> {
        let scaled = (v * PRICE_SCALE as f64).round();
        if scaled.is_finite() && scaled >= i64::MIN as f64 && scaled <= i64::MAX as f64 {
            Some(Price(scaled as i64))
        } else {
            None
        }
    }
}

impl FromStr for Price {
    type Err = PriceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(PriceParseError::Empty);
        }
        let (neg, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let offset = text.len() - body.len();
        if body.is_empty() {
            return Err(PriceParseError::Empty);
        }
        let mut int: i128 = 0;
        let mut frac: i128 = 0;
        let mut frac_digits = 0u32;
        let mut seen_dot = false;
        let mut digits = 0usize;
        for (i, ch) in body.char_indices() {
            match ch {
                '0'..='9' => {
                    let d = (ch as u8 - b'0') as i128;
                    digits += 1;
                    if seen_dot {
                        frac_digits += 1;
                        if frac_digits > PRICE_DECIMALS {
                            if d != 0 {
                                return Err(PriceParseError::TooPrecise(text.to_string()));
                            }
                            continue;
                        }
                        frac = frac * 10 + d;
                    } else {
                        int = int * 10 + d;
                        if int > i64::MAX as i128 {
                            return Err(PriceParseError::OutOfRange(text.to_string()));
                        }
                    }
                }
                '.' if !seen_dot => seen_dot = true,
                _ => {
                    return Err(PriceParseError::InvalidChar {
                        ch,
                        at: i + offset,
                        text: text.to_string(),
                    })
                }
            }
        }
        if digits == 0 {
            return Err(PriceParseError::Empty);
        }
        let used = frac_digits.min(PRICE_DECIMALS);
        let frac_scaled = frac * 10i128.pow(PRICE_DECIMALS - used);
        let mut raw = int * PRICE_SCALE as i128 + frac_scaled;
        if neg {
            raw = -raw;
        }
        if raw > i64::MAX as i128 || raw < i64::MIN as i128 {
            return Err(PriceParseError::OutOfRange(text.to_string()));
        }
        Ok(Price(raw as i64))
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0 as i128;
        let sign = if raw < 0 { "-" } else { "" };
        let abs = raw.abs();
        let int = abs / PRICE_SCALE as i128;
        let mut frac = abs % PRICE_SCALE as i128;
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let mut width = PRICE_DECIMALS as usize;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(f, "{sign}{int}.{frac:0width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip_table() {
        // (case, input, raw, display)
        let cases: &[(u32, &str, i64, &str)] = &[
            (1, "0", 0, "0"),
            (2, "100", 100 * PRICE_SCALE, "100"),
            (3, "101.25", 101_250_000_000, "101.25"),
            (4, "-0.000000001", -1, "-0.000000001"),
            (5, "1.100000000", 1_100_000_000, "1.1"),
            (6, "+7.5", 7_500_000_000, "7.5"),
            (7, "9223372036.854775807", i64::MAX, "9223372036.854775807"),
            (8, ".5", 500_000_000, "0.5"),
            (9, "2.0000000000", 2 * PRICE_SCALE, "2"),
        ];
        for &(case, input, raw, display) in cases {
            let p: Price = input.parse().unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!(p.raw(), raw, "case {case}");
            assert_eq!(p.to_string(), display, "case {case}");
            assert_eq!(p.to_string().parse::<Price>().unwrap(), p, "case {case}");
        }
    }

    #[test]
    fn rejects_bad_prices_with_what_and_where() {
        assert_eq!("".parse::<Price>(), Err(PriceParseError::Empty));
        assert_eq!("-".parse::<Price>(), Err(PriceParseError::Empty));
        assert!(matches!(
            "12a.5".parse::<Price>(),
            Err(PriceParseError::InvalidChar { ch: 'a', at: 2, .. })
        ));
        assert!(matches!(
            "1.0000000001".parse::<Price>(),
            Err(PriceParseError::TooPrecise(_))
        ));
        assert!(matches!(
            "99999999999".parse::<Price>(),
            Err(PriceParseError::OutOfRange(_))
        ));
        assert!(matches!(
            "1.2.3".parse::<Price>(),
            Err(PriceParseError::InvalidChar { ch: '.', .. })
        ));
    }

    #[test]
    fn f64_edges() {
        assert_eq!(Price::from_f64(1.5), Some(Price(1_500_000_000)));
        assert_eq!(Price::from_f64(f64::NAN), None);
        assert_eq!(Price::from_f64(1e30), None);
        assert!((Price(2_250_000_000).to_f64() - 2.25).abs() < 1e-12);
    }
}
