//! What a caught panic said, for the log line and the close reason that
//! replace it (a client never dies silently).

use std::any::Any;

/// The panic's message if it carried one (`panic!` with a literal or a
/// format string), else a placeholder.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    match payload.downcast_ref::<&str>() {
        Some(s) => (*s).to_owned(),
        None => match payload.downcast_ref::<String>() {
            Some(s) => s.clone(),
            None => "(no message)".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_formatted_and_other_payloads() {
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        assert_eq!(message(&*caught(|| panic!("boom"))), "boom");
        assert_eq!(message(&*caught(|| panic!("n = {}", 7))), "n = 7");
        let other = caught(|| std::panic::panic_any(42u8));
        assert_eq!(message(&*other), "(no message)");
    }
}
