//! Rust names for Asterisk's: types keep the name (`PJSIPShowEndpoint`),
//! methods are its snake case (`caller_id_num` for `CallerIDNum`).

/// Words Rust reserves (strict, reserved and 2024's `gen`), and `new`, which
/// readers take for a constructor: a method so named gets a trailing `_`, as
/// `Originate::async_` does.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "new", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// A type name for an Asterisk action or event name: the name itself, less
/// any character that cannot be in an identifier (`AOC-D` gives `AOCD`).
pub(crate) fn type_name(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// A method name for a header or parameter: words split where the case
/// changes (`CallerIDNum` is `caller_id_num`) or at punctuation
/// (`Cause-txt` is `cause_txt`), lowercased and joined with `_`.
pub(crate) fn method_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        let starts_word = c.is_ascii_uppercase()
            && match prev {
                // `callerI`, `channel1S`: after a lower case letter or digit.
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                // `IDNum`: the last capital of a run before a lower case letter.
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(char::is_ascii_lowercase),
                _ => false,
            };
        if starts_word && !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        // `100rel` is no identifier.
        format!("header_{out}")
    } else if KEYWORDS.contains(&out.as_str()) {
        format!("{out}_")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_follow_the_words() {
        for (name, method) in [
            ("Channel", "channel"),
            ("CallerIDNum", "caller_id_num"),
            ("Uniqueid", "uniqueid"),
            ("DestChannelStateDesc", "dest_channel_state_desc"),
            ("DAHDIChannel", "dahdi_channel"),
            ("Cause-txt", "cause_txt"),
            ("CID-CallingPres", "cid_calling_pres"),
            ("Call-ID", "call_id"),
            ("Channel1", "channel1"),
            ("PreDialGoSub", "pre_dial_go_sub"),
            ("AOCBillingId", "aoc_billing_id"),
            ("100rel", "header_100rel"),
            ("Async", "async_"),
            ("Type", "type_"),
            ("New", "new_"),
            ("channel", "channel"),
        ] {
            assert_eq!(method_name(name), method, "{name}");
        }
    }

    #[test]
    fn type_names_keep_the_name() {
        assert_eq!(type_name("PJSIPShowEndpoint"), "PJSIPShowEndpoint");
        assert_eq!(type_name("AOC-D"), "AOCD");
    }
}
