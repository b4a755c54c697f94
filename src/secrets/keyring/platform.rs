//! The OS's own credential store, and what its failures mean to a user of that OS.

use std::sync::Arc;

use keyring_core::{CredentialStore, Error};

use crate::secrets::StoreError;

/// What the user calls this platform's keyring.
#[cfg(target_os = "linux")]
const STORE_NAME: &str = "Secret Service";
#[cfg(target_os = "macos")]
const STORE_NAME: &str = "login keychain";
#[cfg(windows)]
const STORE_NAME: &str = "Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const STORE_NAME: &str = "OS keyring";

#[cfg(target_os = "linux")]
const NO_SERVICE_HINT: &str =
    "start a Secret Service (gnome-keyring) or use store = \"file\" in [secrets]";
#[cfg(target_os = "macos")]
const NO_SERVICE_HINT: &str = "run keyplan in a session of a logged-in user (an ssh session may not \
                               reach the login keychain), or use store = \"file\" in [secrets]";
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const NO_SERVICE_HINT: &str = "run keyplan as a user with a loaded profile (a service account may \
                               have no credential store), or use store = \"file\" in [secrets]";

#[cfg(target_os = "linux")]
const LOCKED_HINT: &str = "unlock the keyring (log in to the desktop session, or run \
                           `gnome-keyring-daemon --unlock` with its password), or use store = \"file\"";
#[cfg(target_os = "macos")]
const LOCKED_HINT: &str = "unlock the login keychain (`security unlock-keychain`) and allow keyplan \
                           when macOS asks, or use store = \"file\"";
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const LOCKED_HINT: &str =
    "check that this user may use Credential Manager, or use store = \"file\"";

/// Whether this build has a keyring store for this OS.
pub(super) fn supported() -> Result<(), StoreError> {
    if cfg!(any(target_os = "linux", target_os = "macos", windows)) {
        Ok(())
    } else {
        Err(
            StoreError::new("the keyring store is not supported on this platform")
                .with_hint("use store = \"file\" or store = \"command\" in [secrets]"),
        )
    }
}

/// This OS's keyring-core store: the Secret Service, the login keychain or Credential Manager.
/// Also how tests read entries back without going through keyplan.
pub fn platform_store() -> Result<Arc<CredentialStore>, StoreError> {
    connect()
}

#[cfg(target_os = "linux")]
pub(super) fn connect() -> Result<Arc<CredentialStore>, StoreError> {
    let store = zbus_secret_service_keyring_store::Store::new()
        .map_err(|e| map_error("failed to connect to the Secret Service", e))?;
    Ok(store)
}

#[cfg(target_os = "macos")]
pub(super) fn connect() -> Result<Arc<CredentialStore>, StoreError> {
    let store = apple_native_keyring_store::keychain::Store::new()
        .map_err(|e| map_error("failed to open the login keychain", e))?;
    Ok(store)
}

#[cfg(windows)]
pub(super) fn connect() -> Result<Arc<CredentialStore>, StoreError> {
    let store = windows_native_keyring_store::Store::new()
        .map_err(|e| map_error("failed to open Credential Manager", e))?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub(super) fn connect() -> Result<Arc<CredentialStore>, StoreError> {
    Err(supported()
        .err()
        .unwrap_or_else(|| StoreError::new("no keyring")))
}

/// How a user deletes entry `name` of `service` by hand.
pub(super) fn delete_hint(service: &str, name: &str) -> String {
    if cfg!(target_os = "macos") {
        format!("e.g. `security delete-generic-password -s {service} -a {name}`")
    } else if cfg!(windows) {
        // The Windows store names a credential `<user>.<service>`.
        format!("e.g. `cmdkey /delete:{name}.{service}`")
    } else {
        format!("e.g. `secret-tool clear service {service} username {name}`")
    }
}

/// Turns a keyring-core error into a store error with a hint. Never formats the payload of
/// `BadEncoding`/`BadDataFormat`: those carry the stored bytes, i.e. a secret.
pub(super) fn map_error(context: &str, error: Error) -> StoreError {
    match error {
        Error::NoStorageAccess(cause) => StoreError::new(format!(
            "{context}: the keyring is locked or refused access ({cause})"
        ))
        .with_hint(LOCKED_HINT),
        Error::PlatformFailure(cause) => {
            StoreError::new(format!("{context}: no working {STORE_NAME} ({cause})"))
                .with_hint(NO_SERVICE_HINT)
        }
        Error::NoEntry => StoreError::new(format!("{context}: no such entry")),
        Error::BadEncoding(_) => StoreError::new(format!("{context}: the value is not UTF-8"))
            .with_hint("this entry was not written by keyplan; move or delete it"),
        Error::BadDataFormat(_, _) => {
            StoreError::new(format!("{context}: the stored data is malformed"))
        }
        Error::Ambiguous(entries) => StoreError::new(format!(
            "{context}: {} keyring items match this service and entry",
            entries.len()
        ))
        .with_hint("delete the duplicates (e.g. with seahorse or `secret-tool clear`)"),
        Error::NotSupportedByStore(what) => StoreError::new(format!(
            "{context}: the keyring does not support what keyplan needs ({what})"
        ))
        .with_hint("use store = \"file\" in [secrets]"),
        other => StoreError::new(format!("{context}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(message: &str) -> keyring_core::error::PlatformError {
        message.to_owned().into()
    }

    #[test]
    fn errors_carry_actionable_hints() {
        let locked = map_error("failed to write", Error::NoStorageAccess(boxed("Prompt")));
        assert!(
            locked
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("unlock") || h.contains("Credential Manager"))
        );
        let absent = map_error("failed to connect", Error::PlatformFailure(boxed("no bus")));
        assert!(absent.message.contains(STORE_NAME), "{}", absent.message);
        let hint = absent.hint.unwrap_or_default();
        assert!(hint.contains("store = \"file\""), "{hint}");
        #[cfg(target_os = "linux")]
        assert!(hint.contains("gnome-keyring"), "{hint}");
    }

    #[test]
    fn errors_never_show_stored_bytes() {
        let error = map_error(
            "failed to read",
            Error::BadEncoding(b"pcsk_\xffsecret".to_vec()),
        );
        assert!(!error.message.contains("secret"), "{}", error.message);
        let error = map_error(
            "failed to read",
            Error::BadDataFormat(b"pcsk_secret".to_vec(), boxed("bad")),
        );
        assert!(!error.message.contains("pcsk"), "{}", error.message);
    }
}
