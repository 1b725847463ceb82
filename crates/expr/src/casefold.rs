//! Case-insensitive text comparison the way GitHub does it (C# `OrdinalIgnoreCase`): both sides
//! are upper-cased one character at a time and then compared by UTF-16 code unit. Two details
//! the conformance vectors pin down: the dotless `ı` is not upper-cased to `I`, and `İ` stays
//! distinct from `i`. Characters whose upper case is more than one character (`ß`) stay as they
//! are, as in C#.

use std::cmp::Ordering;

fn fold_char(c: char) -> char {
    if c == 'ı' {
        return c;
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn folded(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().map(fold_char)
}

pub(crate) fn eq(a: &str, b: &str) -> bool {
    folded(a).eq(folded(b))
}

pub(crate) fn cmp(a: &str, b: &str) -> Ordering {
    fold(a).encode_utf16().cmp(fold(b).encode_utf16())
}

pub(crate) fn fold(s: &str) -> String {
    folded(s).collect()
}

pub(crate) fn starts_with(haystack: &str, needle: &str) -> bool {
    let mut h = folded(haystack);
    folded(needle).all(|n| h.next() == Some(n))
}

pub(crate) fn ends_with(haystack: &str, needle: &str) -> bool {
    let mut h = folded(haystack).rev();
    folded(needle).rev().all(|n| h.next() == Some(n))
}

pub(crate) fn contains(haystack: &str, needle: &str) -> bool {
    fold(haystack).contains(&fold(needle))
}
