//! What `Debug` output and logs hide: the redaction policy and the wrapper
//! that applies it to one header value.
//!
//! Every `Debug` of an action, a frame or a set of headers goes through a
//! [`RedactionPolicy`], so a secret never reaches a log by accident. The
//! policy errs on the side of hiding: a harmless value shown as `***` costs a
//! little clarity, a leaked password costs much more.

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Which header values are secret, decided from the header's name and value.
///
/// A header is secret when **any** of these rules matches:
///
/// 1. **Exact names**: the name equals one of them, ignoring ASCII case.
/// 2. **Key patterns**: the name contains one of them, ignoring ASCII case,
///    unless the name is on the **allow list** (exact names, ignoring ASCII
///    case). The allow list exempts a name from rule 2 only.
/// 3. **Value patterns**: the value contains one of them, ignoring ASCII
///    case, whatever the header's name. The allow list does not exempt a
///    header from this rule.
///
/// An empty pattern is a substring of everything, so it matches every header.
///
/// [`RedactionPolicy::default`] is:
///
/// | Rule | Entries |
/// |------|---------|
/// | exact names | `Secret`, `Key` |
/// | key patterns | `secret`, `password`, `passwd`, `token`, `auth` |
/// | allow list | `AuthType` |
/// | value patterns | `secret`, `password`, `passwd`, `token=` |
///
/// So the Login `Secret` and `Key` (MD5 digest) are hidden, and so are
/// headers such as `Authorization`, `AuthToken` or `DBPassword`; `AuthType:
/// MD5` stays visible. `Key` is exact only, so `Keys` or `Monkey` are shown
/// (note that the `Key` of `DBGet`/`DBPut` is hidden too: harmless
/// over-redaction). The value patterns catch secrets carried inside other
/// headers: `Variable: DBPASSWORD=x`, `Command: database put auth password
/// hunter2`, `Data: token=abc`.
///
/// A [`crate::Config::redaction`] applies to everything its connection
/// prints: the `Debug` of every frame, event, response, header set and
/// completion it produces (they carry the policy), and its log lines. Each
/// distinct policy is stored once for the life of the process and shared
/// by reference, so build policies from configuration, not afresh per
/// session.
///
/// # Examples
///
/// ```
/// use ami_proto::RedactionPolicy;
///
/// let policy = RedactionPolicy::default();
/// assert_eq!(policy.apply("Secret", b"hunter2").to_string(), "***");
/// assert_eq!(policy.apply("AuthType", b"MD5").to_string(), "MD5");
/// assert_eq!(policy.apply("Channel", b"PJSIP/100").to_string(), "PJSIP/100");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactionPolicy {
    /// Exact names, as given (compared ignoring ASCII case).
    exact: Vec<String>,
    /// Name substrings, ASCII-lowercased.
    key_patterns: Vec<Vec<u8>>,
    /// Value substrings, ASCII-lowercased.
    value_patterns: Vec<Vec<u8>>,
    /// Exact names exempt from the key patterns.
    allow: Vec<String>,
}

impl Default for RedactionPolicy {
    /// The policy described on [`RedactionPolicy`]: hides login secrets,
    /// password-like headers and password-like values.
    fn default() -> Self {
        RedactionPolicy::none()
            .with_exact("Secret")
            .with_exact("Key")
            .with_key_pattern("secret")
            .with_key_pattern("password")
            .with_key_pattern("passwd")
            .with_key_pattern("token")
            .with_key_pattern("auth")
            .allow_exact("AuthType")
            .with_value_pattern("secret")
            .with_value_pattern("password")
            .with_value_pattern("passwd")
            .with_value_pattern("token=")
    }
}

impl RedactionPolicy {
    /// A policy that hides nothing. Use it only where the output never leaves
    /// a trusted place (a local debugging session), or as the start of a
    /// policy built from scratch with the `with_*` methods.
    pub fn none() -> Self {
        RedactionPolicy {
            exact: Vec::new(),
            key_patterns: Vec::new(),
            value_patterns: Vec::new(),
            allow: Vec::new(),
        }
    }

    /// Adds a header name whose value is always secret (ASCII case ignored).
    pub fn with_exact(mut self, name: impl Into<String>) -> Self {
        self.exact.push(name.into());
        self
    }

    /// Adds a substring that makes any header name containing it secret
    /// (ASCII case ignored), unless the name is allowed with
    /// [`RedactionPolicy::allow_exact`].
    pub fn with_key_pattern(mut self, pattern: impl AsRef<str>) -> Self {
        self.key_patterns
            .push(pattern.as_ref().as_bytes().to_ascii_lowercase());
        self
    }

    /// Adds a substring that makes any value containing it secret (ASCII case
    /// ignored), whatever the header's name.
    pub fn with_value_pattern(mut self, pattern: impl AsRef<[u8]>) -> Self {
        self.value_patterns
            .push(pattern.as_ref().to_ascii_lowercase());
        self
    }

    /// Exempts a header name (ASCII case ignored) from the key patterns. It is
    /// still secret if it is also an exact name or its value matches a value
    /// pattern.
    pub fn allow_exact(mut self, name: impl Into<String>) -> Self {
        self.allow.push(name.into());
        self
    }

    /// Whether the value of header `name` must be hidden.
    pub fn is_secret(&self, name: &str, value: &[u8]) -> bool {
        if self.exact.iter().any(|e| e.eq_ignore_ascii_case(name)) {
            return true;
        }
        let allowed = self.allow.iter().any(|a| a.eq_ignore_ascii_case(name));
        if !allowed
            && self
                .key_patterns
                .iter()
                .any(|p| contains_ignore_case(name.as_bytes(), p))
        {
            return true;
        }
        self.value_patterns
            .iter()
            .any(|p| contains_ignore_case(value, p))
    }

    /// A view of `value` that prints `***` when the header is secret, and the
    /// value (lossy UTF-8) otherwise.
    pub fn apply<'a>(&self, name: &str, value: &'a [u8]) -> Redacted<'a> {
        Redacted {
            value,
            secret: self.is_secret(name, value),
        }
    }

    /// The shared default policy, for `Debug` impls that have no policy at hand.
    pub(crate) fn default_ref() -> &'static RedactionPolicy {
        static DEFAULT: OnceLock<RedactionPolicy> = OnceLock::new();
        DEFAULT.get_or_init(RedactionPolicy::default)
    }

    /// This policy as a reference for the life of the process: one stored
    /// copy per distinct policy, shared by every connection configured
    /// with an equal one.
    ///
    /// Frames carry their connection's policy for their `Debug`. A plain
    /// `&'static` costs nothing to copy or drop, where a reference count
    /// (`Arc`) measured about 4% more instructions per event in the event
    /// flood, even for frames under the default policy. The price is that
    /// a distinct policy is never freed: make policies from configuration,
    /// not afresh (and different) per session.
    pub(crate) fn interned(&self) -> &'static RedactionPolicy {
        let default = RedactionPolicy::default_ref();
        if self == default {
            return default;
        }
        static INTERNED: Mutex<Vec<&'static RedactionPolicy>> = Mutex::new(Vec::new());
        let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = interned.iter().find(|known| **known == self) {
            return known;
        }
        let leaked: &'static RedactionPolicy = Box::leak(Box::new(self.clone()));
        interned.push(leaked);
        leaked
    }
}

/// Whether `haystack` contains `needle` (already ASCII-lowercased), ignoring
/// ASCII case.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// One header value as a policy allows it to be shown: `***` when secret,
/// else the value as lossy UTF-8 (quoted by `Debug`, bare by `Display`).
/// Made by [`RedactionPolicy::apply`].
#[derive(Clone, Copy)]
pub struct Redacted<'a> {
    value: &'a [u8],
    secret: bool,
}

impl Redacted<'_> {
    /// Whether the value is hidden.
    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("***")
        } else {
            fmt::Display::fmt(&String::from_utf8_lossy(self.value), f)
        }
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("***")
        } else {
            fmt::Debug::fmt(&String::from_utf8_lossy(self.value), f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(policy: &RedactionPolicy, name: &str, value: &str) -> String {
        policy.apply(name, value.as_bytes()).to_string()
    }

    #[test]
    fn login_payloads_are_hidden() {
        let p = RedactionPolicy::default();
        assert_eq!(shown(&p, "Secret", "hunter2"), "***");
        assert_eq!(shown(&p, "secret", "hunter2"), "***");
        assert_eq!(shown(&p, "Key", "0123abcd"), "***");
        assert_eq!(shown(&p, "KEY", "0123abcd"), "***");
        assert_eq!(shown(&p, "Username", "admin"), "admin");
        assert_eq!(shown(&p, "Action", "Login"), "Login");
    }

    #[test]
    fn auth_type_is_shown() {
        let p = RedactionPolicy::default();
        assert_eq!(shown(&p, "AuthType", "MD5"), "MD5");
        assert_eq!(shown(&p, "authtype", "md5"), "md5");
        // Other `auth` names stay hidden.
        assert_eq!(shown(&p, "Authorization", "Basic x"), "***");
        assert_eq!(shown(&p, "X-AuthToken", "abc"), "***");
    }

    #[test]
    fn key_is_exact_only() {
        let p = RedactionPolicy::default();
        assert_eq!(shown(&p, "Keys", "3"), "3");
        assert_eq!(shown(&p, "Monkey", "banana"), "banana");
    }

    #[test]
    fn secret_values_are_hidden() {
        let p = RedactionPolicy::default();
        assert_eq!(
            shown(&p, "Command", "database put auth password hunter2"),
            "***"
        );
        assert_eq!(shown(&p, "Command", "core show SECRET stuff"), "***");
        assert_eq!(shown(&p, "Variable", "DBPASSWORD=x"), "***");
        assert_eq!(shown(&p, "Data", "user,token=abc"), "***");
        assert_eq!(
            shown(&p, "Command", "core show channels"),
            "core show channels"
        );
    }

    #[test]
    fn password_names_are_hidden() {
        let p = RedactionPolicy::default();
        for name in ["Password", "DBPassword", "passwd", "SIPSecret", "token"] {
            assert_eq!(shown(&p, name, "x"), "***", "{name}");
        }
    }

    #[test]
    fn ordinary_headers_are_untouched() {
        let p = RedactionPolicy::default();
        for (name, value) in [
            ("Channel", "PJSIP/100-00000001"),
            ("Context", "from-internal"),
            ("Event", "Newchannel"),
            ("Message", "Authentication accepted"),
            ("", "a line without a colon"),
        ] {
            assert_eq!(shown(&p, name, value), value);
            assert!(!p.is_secret(name, value.as_bytes()));
        }
    }

    #[test]
    fn none_hides_nothing() {
        let p = RedactionPolicy::none();
        assert_eq!(shown(&p, "Secret", "hunter2"), "hunter2");
        assert_eq!(shown(&p, "Command", "password"), "password");
    }

    #[test]
    fn custom_rules() {
        let p = RedactionPolicy::none()
            .with_exact("X-Pin")
            .with_key_pattern("Cookie")
            .with_value_pattern("PIN:")
            .allow_exact("CookieCount");
        assert_eq!(shown(&p, "x-pin", "1234"), "***");
        assert_eq!(shown(&p, "SetCookie", "a"), "***");
        assert_eq!(shown(&p, "CookieCount", "3"), "3");
        // The allow list exempts from key patterns, not from value patterns.
        assert_eq!(shown(&p, "CookieCount", "pin:1"), "***");
        assert_eq!(shown(&p, "Data", "your pin: 42"), "***");
        assert_eq!(shown(&p, "Secret", "shown"), "shown");
        // An empty pattern matches everything.
        let all = RedactionPolicy::none().with_value_pattern("");
        assert_eq!(shown(&all, "Channel", ""), "***");
    }

    #[test]
    fn debug_and_display() {
        let p = RedactionPolicy::default();
        assert_eq!(format!("{:?}", p.apply("Channel", b"a\"b")), r#""a\"b""#);
        assert_eq!(format!("{}", p.apply("Channel", b"a\"b")), "a\"b");
        assert_eq!(format!("{:?}", p.apply("Secret", b"x")), "***");
        assert_eq!(format!("{}", p.apply("Channel", b"\xffok")), "\u{fffd}ok");
        assert!(p.apply("Secret", b"x").is_secret());
    }

    #[test]
    fn equal_policies_are_interned_once() {
        let custom = || RedactionPolicy::default().with_exact("X-Token");
        let a = custom().interned();
        assert!(std::ptr::eq(a, custom().interned()));
        assert_eq!(*a, custom());
        assert!(!std::ptr::eq(a, RedactionPolicy::none().interned()));
        assert!(std::ptr::eq(
            RedactionPolicy::default().interned(),
            RedactionPolicy::default_ref()
        ));
    }

    #[test]
    fn default_ref_is_default() {
        let p = RedactionPolicy::default_ref();
        assert!(p.is_secret("Secret", b""));
        assert!(!p.is_secret("AuthType", b"MD5"));
        assert!(std::ptr::eq(p, RedactionPolicy::default_ref()));
    }
}
