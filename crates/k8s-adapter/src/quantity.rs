//! Kubernetes resource quantities ("250m", "128Mi", "123456789n") as plain integers.
//!
//! Exact integer arithmetic, no floats: `0.1` cores is 100 millicores, not 100.00000000000001.

/// CPU in millicores, rounded up like the API server's `MilliValue()` and `kubectl top`:
/// `"250m"` → 250, `"1"` → 1000, `"123456789n"` → 124. `None` for malformed or negative input.
pub fn parse_cpu_millicores(quantity: &str) -> Option<u64> {
    parse_scaled(quantity, 1000)
}

/// Memory in bytes, rounded up: `"128Mi"` → 134 217 728, `"1Gi"` → 1 073 741 824,
/// `"500k"` → 500 000. `None` for malformed or negative input.
pub fn parse_memory_bytes(quantity: &str) -> Option<u64> {
    parse_scaled(quantity, 1)
}

/// `ceil(quantity * scale)`, computed on integers.
fn parse_scaled(quantity: &str, scale: u128) -> Option<u64> {
    let quantity = quantity.trim();
    let quantity = quantity.strip_prefix('+').unwrap_or(quantity);
    let number_len = quantity.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(number_len);

    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.contains('.') {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    // Longer mantissas cannot be real resource usage; refusing them keeps the math in range.
    if digits.len() > 30 {
        return None;
    }
    let mantissa: u128 = digits.parse().ok()?;
    let frac_digits = u32::try_from(frac_part.len()).ok()?;

    let (mul, div) = suffix_factor(suffix)?;
    let numerator = mantissa.checked_mul(mul)?.checked_mul(scale)?;
    let denominator = 10u128.checked_pow(frac_digits)?.checked_mul(div)?;
    u64::try_from(numerator.div_ceil(denominator)).ok()
}

/// The suffix as a fraction `mul / div`.
fn suffix_factor(suffix: &str) -> Option<(u128, u128)> {
    let binary = |power: u32| Some((1u128 << power, 1));
    let decimal = |exp: i32| {
        let factor = 10u128.checked_pow(exp.unsigned_abs())?;
        Some(if exp >= 0 { (factor, 1) } else { (1, factor) })
    };
    match suffix {
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        // Decimal exponent form: "1e3", "5E-3".
        _ => {
            let exp = suffix.strip_prefix('e').or_else(|| suffix.strip_prefix('E'))?;
            let exp: i32 = exp.parse().ok()?;
            if exp.unsigned_abs() > 30 {
                return None;
            }
            decimal(exp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_become_millicores() {
        assert_eq!(parse_cpu_millicores("250m"), Some(250));
        assert_eq!(parse_cpu_millicores("1"), Some(1000));
        assert_eq!(parse_cpu_millicores("2.5"), Some(2500));
        assert_eq!(parse_cpu_millicores("0.1"), Some(100));
        assert_eq!(parse_cpu_millicores(".5"), Some(500));
        assert_eq!(parse_cpu_millicores("0"), Some(0));
        assert_eq!(parse_cpu_millicores("1e3"), Some(1_000_000));
    }

    #[test]
    fn nanocores_round_up_like_kubectl_top() {
        assert_eq!(parse_cpu_millicores("123456789n"), Some(124));
        assert_eq!(parse_cpu_millicores("1n"), Some(1));
        assert_eq!(parse_cpu_millicores("0n"), Some(0));
        assert_eq!(parse_cpu_millicores("5000000n"), Some(5));
        assert_eq!(parse_cpu_millicores("1500u"), Some(2));
    }

    #[test]
    fn memory_quantities_become_bytes() {
        assert_eq!(parse_memory_bytes("128Mi"), Some(134_217_728));
        assert_eq!(parse_memory_bytes("1Gi"), Some(1_073_741_824));
        assert_eq!(parse_memory_bytes("500k"), Some(500_000));
        assert_eq!(parse_memory_bytes("1.5Gi"), Some(1_610_612_736));
        assert_eq!(parse_memory_bytes("262144Ki"), Some(268_435_456));
        assert_eq!(parse_memory_bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory_bytes("12345"), Some(12_345));
        assert_eq!(parse_memory_bytes("1E"), Some(1_000_000_000_000_000_000));
    }

    #[test]
    fn malformed_or_negative_quantities_are_refused() {
        for bad in ["", "m", "Mi", "abc", "1.2.3", "12x", "-1", "-250m", "1e", "1ee3", "1 Gi", "100Ei"] {
            assert_eq!(parse_memory_bytes(bad), None, "{bad:?} should be refused");
        }
        assert_eq!(parse_cpu_millicores("1e99"), None);
    }
}
