//! One string key for a pair of names (an extension and its context, a
//! queue and a member or caller).
//!
//! A header value may hold any byte but CR-LF, a bare line feed included
//! (PROTOCOL.md: the Park response's `Message`), so no separator is safe:
//! the first name's length leads instead, and no two pairs share a key.

use std::fmt::Write;

/// Makes `key` the key of `a` and `b` (reusing its memory).
pub(super) fn write_pair(key: &mut String, a: &str, b: &str) {
    key.clear();
    let _ = write!(key, "{}:", a.len());
    key.push_str(a);
    key.push_str(b);
}

/// The key of `a` and `b`.
pub(super) fn pair_key(a: &str, b: &str) -> String {
    let mut key = String::with_capacity(a.len() + b.len() + 4);
    write_pair(&mut key, a, b);
    key
}

/// The two names of a key made by [`write_pair`].
pub(super) fn split_pair(key: &str) -> Option<(&str, &str)> {
    let (len, rest) = key.split_once(':')?;
    let len = len.parse().ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_whose_names_hold_separators_keep_apart_and_split_back() {
        let pairs = [
            ("a@b", "c"),
            ("a", "b@c"),
            ("q\nPJSIP/x", "y"),
            ("q", "PJSIP/x\ny"),
            ("1:", "2"),
            ("1", ":2"),
            ("", "ab"),
            ("ab", ""),
        ];
        let keys: Vec<String> = pairs.iter().map(|(a, b)| pair_key(a, b)).collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(split_pair(key), Some(pairs[i]));
            assert_eq!(keys.iter().filter(|k| *k == key).count(), 1, "{key:?}");
        }
    }
}
