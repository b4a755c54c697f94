//! What keyplan can tell about a ready access token (`PINECONE_ACCESS_TOKEN`), which it cannot
//! renew: when it is a JWT, its expiry (the `exp` claim of its payload, read without checking
//! the signature: keyplan only needs to know when the server will stop taking it). An expired
//! token is refused before any request, an apply is not started with one that will not
//! outlive it, and a 401 names the likely cause.

use std::time::Duration;

use base64::Engine as _;
use jiff::Timestamp;

use super::ApiError;
use super::auth::{Credentials, ENV_ACCESS_TOKEN, ENV_CLIENT_ID, ENV_CLIENT_SECRET};

/// An apply is not started with an access token that expires sooner than this: Pinecone's
/// tokens last 30 minutes or more, so a fresh one always passes, and a large apply (listing,
/// creates, stores, renames, deletes) is well inside it.
pub const APPLY_TOKEN_MARGIN: Duration = Duration::from_secs(10 * 60);

/// Where the docs say how to get a token.
const HOW_TO_GET_ONE: &str = "get a new one (docs/security.md, \"Access tokens\") and set \
     PINECONE_ACCESS_TOKEN again, or use a service account (PINECONE_CLIENT_ID and \
     PINECONE_CLIENT_SECRET), whose tokens keyplan renews itself";

/// The largest payload looked at: a JWT's claims are a few hundred bytes.
const MAX_PAYLOAD_CHARS: usize = 16 * 1024;

/// The `exp` claim of a JWT (`header.payload.signature`, base64url), or `None` for anything
/// else: an opaque token, a malformed one, or a JWT without a numeric `exp`.
pub(crate) fn jwt_expiry(token: &str) -> Option<Timestamp> {
    let mut parts = token.split('.');
    let (header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || header.is_empty() || payload.len() > MAX_PAYLOAD_CHARS {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    let seconds = match exp.as_i64() {
        Some(whole) => whole,
        #[expect(clippy::cast_possible_truncation, reason = "clamped to the i64 range")]
        None => exp
            .as_f64()
            .filter(|s| s.is_finite())?
            .floor()
            .clamp(-1e15, 1e15) as i64,
    };
    Timestamp::from_second(seconds).ok()
}

impl Credentials {
    /// When the access token stops working, if it is a JWT; `None` for a service account
    /// (renewed as needed) and for an opaque token (nobody can tell).
    pub fn access_token_expiry(&self) -> Option<Timestamp> {
        match self {
            Credentials::AccessToken(token) => jwt_expiry(token.expose()),
            Credentials::ClientCredentials { .. } => None,
        }
    }

    /// Refuses an access token that has expired (at `now`): every request would get a 401.
    pub(crate) fn check_not_expired(&self, now: Timestamp) -> Result<(), ApiError> {
        match self.access_token_expiry() {
            Some(expiry) if expiry <= now => Err(ApiError::Credentials(format!(
                "{ENV_ACCESS_TOKEN} expired at {expiry} ({} ago): {HOW_TO_GET_ONE}",
                span_words(now, expiry)
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses an access token that expires within `needed` of `now` (an apply it would not
    /// outlive); the message says when.
    pub(crate) fn check_lifetime(&self, now: Timestamp, needed: Duration) -> Result<(), ApiError> {
        self.check_not_expired(now)?;
        match self.access_token_expiry() {
            Some(expiry) if expires_within(now, expiry, needed) => {
                Err(ApiError::Credentials(format!(
                    "{ENV_ACCESS_TOKEN} expires at {expiry} (in {}), too soon to start an apply \
                     (keyplan needs {} minutes, and cannot renew an access token): \
                     {HOW_TO_GET_ONE}",
                    span_words(now, expiry),
                    needed.as_secs() / 60
                )))
            }
            _ => Ok(()),
        }
    }

    /// A warning when the access token expires within `needed` of `now` (an apply would refuse
    /// it), for commands that only read.
    pub(crate) fn lifetime_warning(&self, now: Timestamp, needed: Duration) -> Option<String> {
        let expiry = self.access_token_expiry()?;
        if expiry <= now {
            return Some(format!(
                "{ENV_ACCESS_TOKEN} expired at {expiry} ({} ago): {HOW_TO_GET_ONE}",
                span_words(now, expiry)
            ));
        }
        expires_within(now, expiry, needed).then(|| {
            format!(
                "{ENV_ACCESS_TOKEN} expires at {expiry} (in {}): `keyplan apply` will refuse \
                 to start with it; {HOW_TO_GET_ONE}",
                span_words(now, expiry)
            )
        })
    }

    /// Why the Admin API refused an access token with a 401 (at `now`), and what to do.
    pub(crate) fn refused_token_hint(&self, now: Timestamp) -> String {
        let why = match self.access_token_expiry() {
            Some(expiry) if expiry <= now => format!(
                "{ENV_ACCESS_TOKEN} was rejected: it expired at {expiry} ({} ago)",
                span_words(now, expiry)
            ),
            Some(expiry) => format!(
                "{ENV_ACCESS_TOKEN} was rejected although it expires only at {expiry}: it was \
                 revoked (a logout does that), or is not a token for this API"
            ),
            None => format!(
                "{ENV_ACCESS_TOKEN} was rejected: it has expired or was revoked (it is not a \
                 JWT, so keyplan cannot tell when it expires)"
            ),
        };
        format!("{why}; {HOW_TO_GET_ONE}")
    }
}

fn expires_within(now: Timestamp, expiry: Timestamp, needed: Duration) -> bool {
    let needed = i64::try_from(needed.as_secs()).unwrap_or(i64::MAX);
    expiry.as_second().saturating_sub(now.as_second()) < needed
}

/// `4 minutes`, `2 hours 5 minutes`, `40 seconds`: the distance between two instants.
fn span_words(a: Timestamp, b: Timestamp) -> String {
    let seconds = a.as_second().abs_diff(b.as_second());
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match seconds {
        0..60 => plural(seconds, "second"),
        60..3600 => plural(seconds / 60, "minute"),
        _ if seconds % 3600 / 60 == 0 => plural(seconds / 3600, "hour"),
        _ => format!(
            "{} {}",
            plural(seconds / 3600, "hour"),
            plural(seconds % 3600 / 60, "minute")
        ),
    }
}

/// The variable names, for the hint of a service account's refusal (kept beside the token's).
pub(crate) fn client_credentials_hint() -> String {
    format!(
        "check {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}: they must belong to a service account \
         of the organisation"
    )
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::model::Secret;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims)
        )
    }

    fn token(text: &str) -> Credentials {
        Credentials::AccessToken(Secret::new(text))
    }

    #[test]
    fn the_expiry_of_a_jwt_is_its_exp_claim() {
        let at = |s: i64| Some(Timestamp::from_second(s).unwrap());
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1767225600,"sub":"u"}"#)),
            at(1_767_225_600)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1767225600.9}"#)),
            at(1_767_225_600)
        );
        // Padded base64url is read too.
        let padded = jwt(r#"{"exp":1}"#).replacen(".c2ln", "==.c2ln", 1);
        assert_eq!(jwt_expiry(&padded), at(1));
        for opaque in [
            "emu_abcdef".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            jwt(r#"{"sub":"no exp"}"#),
            jwt(r#"{"exp":"tomorrow"}"#),
            jwt("not json"),
            format!(".{}.x", jwt(r#"{"exp":1}"#).split('.').nth(1).unwrap()),
            "eyJ.!!!.x".to_owned(),
        ] {
            assert_eq!(jwt_expiry(&opaque), None, "{opaque}");
        }
    }

    #[test]
    fn expired_and_short_lived_tokens_are_refused_with_their_expiry() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let expiring =
            |offset: i64| token(&jwt(&format!(r#"{{"exp":{}}}"#, 1_800_000_000 + offset)));

        let err = expiring(-3_900)
            .check_not_expired(now)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "PINECONE_ACCESS_TOKEN expired at 2027-01-15T06:55:00Z (1 hour 5 minutes ago)"
            ),
            "{err}"
        );
        assert!(err.contains("docs/security.md"), "{err}");
        expiring(60).check_not_expired(now).unwrap();

        let err = expiring(240)
            .check_lifetime(now, APPLY_TOKEN_MARGIN)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(in 4 minutes), too soon to start an apply"),
            "{err}"
        );
        expiring(3_600)
            .check_lifetime(now, APPLY_TOKEN_MARGIN)
            .unwrap();
        assert!(
            expiring(240)
                .lifetime_warning(now, APPLY_TOKEN_MARGIN)
                .is_some()
        );
        assert!(
            expiring(3_600)
                .lifetime_warning(now, APPLY_TOKEN_MARGIN)
                .is_none()
        );
        let late = expiring(-120)
            .lifetime_warning(now, APPLY_TOKEN_MARGIN)
            .unwrap();
        assert!(
            late.contains("expired at") && late.contains("2 minutes ago"),
            "{late}"
        );

        // Opaque tokens and service accounts: nothing to check.
        token("opaque")
            .check_lifetime(now, APPLY_TOKEN_MARGIN)
            .unwrap();
        let account = Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        };
        account.check_lifetime(now, APPLY_TOKEN_MARGIN).unwrap();
    }

    #[test]
    fn a_refused_token_is_explained_by_what_it_says() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let expired = token(&jwt(r#"{"exp":1799999990}"#)).refused_token_hint(now);
        assert!(
            expired.contains("expired at") && expired.contains("10 seconds ago"),
            "{expired}"
        );
        let revoked = token(&jwt(r#"{"exp":1800003600}"#)).refused_token_hint(now);
        assert!(revoked.contains("revoked"), "{revoked}");
        let opaque = token("opaque").refused_token_hint(now);
        assert!(opaque.contains("expired or was revoked"), "{opaque}");
        for hint in [expired, revoked, opaque] {
            assert!(hint.contains("PINECONE_CLIENT_ID"), "{hint}");
        }
    }
}
