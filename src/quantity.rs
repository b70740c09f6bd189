//! Kubernetes resource quantities (`10Gi`, `500m`, `1.5`, `2e3`) read as exact numbers.
//!
//! The operator needs quantities for three things: validating `storage.size` and
//! `scratch.sizeLimit`, refusing a shrinking claim, and telling a real change from the API
//! server's canonical re-spelling (`0.5` comes back as `500m`), which must not count as drift.
//! This module only parses and compares; it never formats quantities for the API.

use std::cmp::Ordering;

/// A quantity as an exact count of thousandths (milli-units), rounded up like the API server
/// rounds sub-milli precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i128);

/// Largest magnitude Kubernetes accepts (2^63 - 1 units), in millis.
const MAX_MILLIS: i128 = (i64::MAX as i128) * 1000;

/// Parses a quantity; `None` when it is not one Kubernetes would accept.
pub fn parse(text: &str) -> Option<Millis> {
    let s = text.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.contains('.') {
        return None;
    }
    // value = mantissa * 10^(-frac_digits) * 2^binary_exp * 10^decimal_exp
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let (binary_exp, mut decimal_exp) = suffix_exponents(suffix)?;
    decimal_exp -= i32::try_from(frac_part.len()).ok()?;
    // Work in millis: multiply by 10^3 first.
    decimal_exp += 3;
    let mut value = mantissa.checked_mul(1i128.checked_shl(binary_exp)?)?;
    match decimal_exp.cmp(&0) {
        Ordering::Greater => {
            let factor = 10i128.checked_pow(u32::try_from(decimal_exp).ok()?)?;
            value = value.checked_mul(factor)?;
        }
        Ordering::Less => {
            let exp = u32::try_from(-decimal_exp).ok()?;
            // Beyond 10^38 every non-zero value rounds up to 1 milli.
            value = match 10i128.checked_pow(exp) {
                // Rounded up without `value + divisor - 1`, which overflows near 2^127.
                Some(divisor) => value / divisor + i128::from(value % divisor != 0),
                None => i128::from(value > 0),
            };
        }
        Ordering::Equal => {}
    }
    if value > MAX_MILLIS {
        return None;
    }
    Some(Millis(if negative { -value } else { value }))
}

/// Returns (power of two, power of ten) of a suffix.
fn suffix_exponents(suffix: &str) -> Option<(u32, i32)> {
    let exps = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || exp.len() > 4 {
                return None;
            }
            (0, exp.parse::<i32>().ok()?)
        }
    };
    Some(exps)
}

/// True when both texts are quantities of the same value (`1Gi` and `1024Mi`, `0.5` and `500m`).
pub fn same_value(a: &str, b: &str) -> bool {
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_suffix_family() {
        assert_eq!(parse("0"), Some(Millis(0)));
        assert_eq!(parse("1"), Some(Millis(1000)));
        assert_eq!(parse("500m"), Some(Millis(500)));
        assert_eq!(parse("0.5"), Some(Millis(500)));
        assert_eq!(parse(".5"), Some(Millis(500)));
        assert_eq!(parse("5."), Some(Millis(5000)));
        assert_eq!(parse("1k"), Some(Millis(1_000_000)));
        assert_eq!(parse("1Ki"), Some(Millis(1_024_000)));
        assert_eq!(parse("64Mi"), Some(Millis(64 * 1024 * 1024 * 1000)));
        assert_eq!(parse("1.5Gi"), parse("1536Mi"));
        assert_eq!(parse("2e3"), Some(Millis(2_000_000)));
        assert_eq!(parse("2E3"), Some(Millis(2_000_000)));
        assert_eq!(parse("1E"), Some(Millis(1_000_000_000_000_000_000_000)));
        assert_eq!(parse("+3"), Some(Millis(3000)));
        assert_eq!(parse("-3"), Some(Millis(-3000)));
    }

    #[test]
    fn rounds_sub_milli_up_like_the_api_server() {
        assert_eq!(parse("0.1m"), Some(Millis(1)));
        assert_eq!(parse("1e-9"), Some(Millis(1)));
        assert_eq!(parse("0.0000"), Some(Millis(0)));
        // Scaled mantissa near 2^127 with a 10^38 divisor: rounding must not overflow.
        assert_eq!(
            parse("0.00000000000000000000100000000000000000000Ei"),
            Some(Millis(2))
        );
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for bad in [
            "",
            "Gi",
            "1.2.3",
            "1 Gi",
            "1gi",
            "ten",
            "1e",
            "1e+",
            "--1",
            "1Gix",
            "1e99999",
            "99999999999999999999999",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} must not parse");
        }
    }

    #[test]
    fn compares_by_value_not_spelling() {
        assert!(same_value("1Gi", "1024Mi"));
        assert!(same_value("0.5", "500m"));
        assert!(same_value("1000", "1k"));
        assert!(!same_value("1G", "1Gi"));
        assert!(!same_value("1Gi", "oops"));
        assert!(parse("10Gi") > parse("9Gi"));
    }
}
