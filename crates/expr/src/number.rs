//! Numbers as GitHub reads and writes them.
//!
//! Reading follows the rules both of GitHub's implementations share (the JavaScript `Number()`
//! conversion): surrounding whitespace is ignored, '' is 0, `0x`/`0o`/`0b` prefixes, an optional
//! sign, `Infinity`, decimals with an exponent; anything else is NaN.
//! Writing follows the C# runner's `G15` format: 15 significant digits, trailing zeros dropped,
//! scientific notation (`1E+15`, `1E-05`) outside 1e-4 ≤ |x| < 1e15.

/// The string → number coercion (also used by the lexer for number literals).
pub(crate) fn parse(text: &str) -> f64 {
    let text = text.trim_matches(is_js_whitespace);
    if text.is_empty() {
        return 0.0;
    }
    if let Some(value) = parse_prefixed_integer(text) {
        return value;
    }
    parse_decimal(text).unwrap_or(f64::NAN)
}

/// Whitespace as JavaScript's `trim` and `\s` see it.
pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// `0x…`, `0o…`, `0b…` (no sign allowed). `None` when the text has no such prefix.
fn parse_prefixed_integer(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'0' {
        return None;
    }
    let radix = match bytes[1] {
        b'x' | b'X' => 16,
        b'o' | b'O' => 8,
        b'b' | b'B' => 2,
        _ => return None,
    };
    let digits = &text[2..];
    if digits.is_empty() {
        return Some(f64::NAN);
    }
    let mut value = 0.0_f64;
    for c in digits.chars() {
        match c.to_digit(radix) {
            Some(d) => value = value * f64::from(radix) + f64::from(d),
            None => return Some(f64::NAN),
        }
    }
    Some(value)
}

/// `[+-]` then `Infinity` or `digits[.digits][e[+-]digits]` (either side of the point may be
/// empty, not both).
fn parse_decimal(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if unsigned == "Infinity" {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    let bytes = unsigned.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&bytes[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&bytes[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&bytes[i..]);
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != bytes.len() {
        return None;
    }
    // The text is now known to be plain decimal notation, which Rust parses exactly.
    let magnitude: f64 = unsigned.parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// The number → string coercion (`format`, `join`, `${{ }}` substitution, index keys).
pub(crate) fn format(value: f64) -> String {
    if let Some(special) = format_special(value) {
        return special.to_owned();
    }
    if value == 0.0 {
        // GitHub prints negative zero as "0".
        return "0".to_owned();
    }
    // `{:.14e}` rounds correctly to 15 significant digits.
    let (digits, exponent) = decimal_digits(&format!("{:.14e}", value.abs()));
    place_digits(value < 0.0, &digits, exponent)
}

/// Numbers inside `toJSON` output, as the C# runner writes them: integers without a fraction,
/// others in the shortest form that reads back to the same number, NaN and infinities as
/// strings.
pub(crate) fn format_json(value: f64) -> String {
    if let Some(special) = format_special(value) {
        return format!("\"{special}\"");
    }
    if value == value.trunc() && value.abs() < 9.2e18 {
        // Exactly representable as i64 here; `as` cannot saturate in this range.
        return format!("{}", value as i64);
    }
    let (digits, exponent) = decimal_digits(&format!("{:e}", value.abs()));
    place_digits(value < 0.0, &digits, exponent)
}

fn format_special(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value == f64::INFINITY {
        Some("Infinity")
    } else if value == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// Splits Rust's `d.ddde±x` output into significant digits (trailing zeros removed) and the
/// decimal exponent of the first digit.
fn decimal_digits(scientific: &str) -> (String, i32) {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exponent)
}

/// Writes digits `d₁d₂…` × 10^exponent the way .NET's general format does.
fn place_digits(negative: bool, digits: &str, exponent: i32) -> String {
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if !(-4..15).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('E');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.unsigned_abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}
