//! What an event mask lets through, parsed as Asterisk parses it.
//!
//! The Login `Events` header and an `Events` action's `EventMask` both go
//! through `strings_to_mask` in `main/manager.c` (the same from 1.8 to 23):
//! an all-digit value is a bit mask; `off`/`no`/`false`/`n`/`f` is nothing;
//! `on`/`yes`/`true`/`y`/`t` is everything; anything else is a comma list of
//! class names (`system`, `call`, ..., `all`), matched case-sensitively by
//! `ast_instring`. The core needs one answer from it: may `call`-class events
//! (`OriginateResponse` among them) reach the session?

/// The `call` class's bit (`EVENT_FLAG_CALL`).
const CALL: u32 = 1 << 1;

/// Whether a mask set from `value` includes the `call` class: `Some(true)`
/// or `Some(false)`, or `None` when Asterisk would leave the mask as it was
/// (an empty value) or the value is out of its range (a number beyond `int`).
pub(crate) fn includes_call(value: &str) -> Option<bool> {
    // The server skips leading blanks (every byte below 33); it keeps the rest.
    let value = value.trim_start_matches(|c: char| c <= ' ');
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let mask: i32 = value.parse().ok()?;
        return Some(mask as u32 & CALL != 0);
    }
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(value));
    if is(&["no", "false", "n", "f", "off"]) {
        return Some(false);
    }
    if is(&["yes", "true", "y", "t", "on"]) {
        return Some(true);
    }
    Some(in_list(value, "call") || in_list(value, "all"))
}

/// `ast_instring(list, word, ',')`, quirks kept: the last element must equal
/// `word`, but an earlier one matches when it is a prefix of `word` (it
/// compares only the element's length), an empty one included.
fn in_list(list: &str, word: &str) -> bool {
    let mut rest = list;
    loop {
        match rest.split_once(',') {
            Some((element, tail)) => {
                if word.starts_with(element) {
                    return true;
                }
                if tail.is_empty() {
                    return false;
                }
                rest = tail;
            }
            None => return rest == word,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_as_asterisk_reads_them() {
        let call = [
            "on",
            "ON",
            "yes",
            "t",
            "2",
            "3",
            "2147483647",
            "call",
            "all",
        ];
        let more = [
            "system,call",
            "cdr,all",
            " call",
            "call,",
            "ca,system",
            ",system",
        ];
        for value in call.iter().chain(&more) {
            assert_eq!(includes_call(value), Some(true), "{value:?}");
        }
        let none = [
            "off", "No", "f", "0", "1", "4", "00", "system", "Call", "CALL",
        ];
        let other = ["system,agent", "system, call", "call ", "calls", "nonsense"];
        for value in none.iter().chain(&other) {
            assert_eq!(includes_call(value), Some(false), "{value:?}");
        }
        for value in ["", "   ", "2147483648", "99999999999999999999"] {
            assert_eq!(includes_call(value), None, "{value:?}");
        }
    }
}
