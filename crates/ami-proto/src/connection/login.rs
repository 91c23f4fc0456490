//! The login handshake: banner, optional MD5 Challenge, Login.
//!
//! Nothing is sent before the banner arrives (a PHP-client pitfall: Login
//! written into a socket that had not greeted yet).

use crate::action::Action;
use crate::config::{AuthMethod, Config};
use crate::error::LoginError;
use crate::message::{Response, Status};

/// Where the handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    AwaitBanner,
    AwaitChallenge,
    AwaitLogin,
    Done,
}

/// What the connection should do next.
#[derive(Debug)]
pub(crate) enum Next {
    Send(Action, Step),
    Ready,
    Failed(LoginError),
}

/// Whether the first line is an AMI greeting (`Asterisk Call Manager/11.0.0`,
/// or a proxy's `... Call Manager ...`), not another protocol on the port.
pub(crate) fn is_ami_banner(line: &[u8]) -> bool {
    let needle = b"call manager";
    line.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The first action after the banner.
pub(crate) fn after_banner(config: &Config) -> Next {
    match config.auth {
        AuthMethod::Md5 => Next::Send(Action::challenge(), Step::AwaitChallenge),
        AuthMethod::Plain => Next::Send(
            Action::login(&config.username, &config.secret, &config.events),
            Step::AwaitLogin,
        ),
    }
}

/// The answer to the Challenge: a Login with the digest, or a failure.
pub(crate) fn after_challenge(config: &Config, response: &Response) -> Next {
    match response.status() {
        Status::Success => {}
        Status::Error => return Next::Failed(LoginError::Refused(message(response))),
        _ => return Next::Failed(failed(response)),
    }
    let Some(challenge) = response.get("Challenge") else {
        return Next::Failed(LoginError::Refused("no Challenge in the answer".into()));
    };
    let key = md5_key(challenge, config.secret.expose());
    Next::Send(
        Action::login_md5(&config.username, &key, &config.events),
        Step::AwaitLogin,
    )
}

/// The answer to the Login: only `Success` logs in.
pub(crate) fn after_login(response: &Response) -> Next {
    match response.status() {
        Status::Success => return Next::Ready,
        Status::Error => {}
        _ => return Next::Failed(failed(response)),
    }
    let text = message(response);
    if text.to_ascii_lowercase().contains("authentication failed") {
        Next::Failed(LoginError::AuthenticationFailed(text))
    } else {
        Next::Failed(LoginError::Refused(text))
    }
}

/// Lowercase hex of `md5(challenge + secret)`, as the server computes it.
pub(crate) fn md5_key(challenge: &[u8], secret: &[u8]) -> String {
    let mut ctx = md5::Context::new();
    ctx.consume(challenge);
    ctx.consume(secret);
    format!("{:x}", ctx.compute())
}

/// A status neither `Success` nor `Error`.
fn failed(response: &Response) -> LoginError {
    LoginError::Failed {
        status: super::status_text(response),
        message: message(response),
    }
}

fn message(response: &Response) -> String {
    response
        .message()
        .map(|m| m.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_matches_the_server_formula() {
        // The pair captured from Asterisk 22 in 03-challenge-md5-login.
        assert_eq!(
            md5_key(b"682751052", b"amp111"),
            "640e67a291df210d40aa507ef6587ec0"
        );
    }
}
