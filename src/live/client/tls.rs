//! Which certificate authorities the client trusts: the roots bundled with keyplan (Mozilla's),
//! the operating system's store, and the CA bundle named by `SSL_CERT_FILE` (a corporate proxy
//! that inspects TLS presents certificates only its own CA signs).
//!
//! reqwest (with rustls) loads the bundled and the OS roots itself, and its OS loader honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` the OpenSSL way (they replace the OS store), but it skips
//! what it cannot read without a word. So keyplan reads them first: a file that is missing,
//! unreadable or holds no certificate, or a directory that is not one, is an error naming the
//! variable and the path, and the file's certificates are added to the roots explicitly.

use std::path::{Path, PathBuf};

use reqwest::Certificate;

use crate::live::ApiError;

pub(crate) const ENV_CERT_FILE: &str = "SSL_CERT_FILE";
pub(crate) const ENV_CERT_DIR: &str = "SSL_CERT_DIR";

/// The largest CA bundle read (the system's full bundle is about 200 KiB).
const MAX_BUNDLE_BYTES: u64 = 16 << 20;

/// The extra roots the environment names, checked: the certificates of `SSL_CERT_FILE` (none
/// when it is unset), after checking that each `SSL_CERT_DIR` entry is a directory.
pub(crate) fn roots_from_env() -> Result<Vec<Certificate>, ApiError> {
    roots_from(|name| std::env::var_os(name))
}

/// [`roots_from_env`] over any source of variables.
pub(crate) fn roots_from(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<Certificate>, ApiError> {
    if let Some(dirs) = lookup(ENV_CERT_DIR) {
        for dir in std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(bad(
                    ENV_CERT_DIR,
                    &dir,
                    "is not a directory",
                    "point it at directories of PEM CA certificates, or unset it",
                ));
            }
        }
    }
    let Some(file) = lookup(ENV_CERT_FILE) else {
        return Ok(Vec::new());
    };
    if file.is_empty() {
        return Err(ApiError::Config(format!(
            "{ENV_CERT_FILE} is set but empty: point it at a PEM file of CA certificates \
             (e.g. your proxy's CA bundle), or unset it"
        )));
    }
    read_bundle(&PathBuf::from(file))
}

fn read_bundle(path: &Path) -> Result<Vec<Certificate>, ApiError> {
    const FIX: &str = "point it at a PEM file of CA certificates (e.g. your proxy's CA \
                       bundle), or unset it";
    let meta = std::fs::metadata(path)
        .map_err(|e| bad(ENV_CERT_FILE, path, &format!("cannot be read ({e})"), FIX))?;
    if !meta.is_file() {
        return Err(bad(ENV_CERT_FILE, path, "is not a regular file", FIX));
    }
    if meta.len() > MAX_BUNDLE_BYTES {
        return Err(bad(ENV_CERT_FILE, path, "is over 16 MiB", FIX));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| bad(ENV_CERT_FILE, path, &format!("cannot be read ({e})"), FIX))?;
    let certs = Certificate::from_pem_bundle(&bytes).map_err(|_| {
        bad(
            ENV_CERT_FILE,
            path,
            "is not a readable PEM certificate bundle",
            FIX,
        )
    })?;
    if certs.is_empty() {
        return Err(bad(
            ENV_CERT_FILE,
            path,
            "holds no certificate (no -----BEGIN CERTIFICATE----- block)",
            FIX,
        ));
    }
    Ok(certs)
}

/// For a connection that failed because the server's certificate was refused, what to do about
/// it (`None` for other failures). Such a failure is not retried: it would fail the same way.
/// Judged from rustls's message, `invalid peer certificate: <reason>`.
pub(crate) fn refused_certificate_advice(detail: &str) -> Option<&'static str> {
    if !detail.contains("invalid peer certificate") {
        return None;
    }
    Some(if detail.contains("UnknownIssuer") {
        "the server's TLS certificate is not signed by an authority keyplan trusts (the bundled \
         roots and the system's store): behind a proxy that inspects TLS, set SSL_CERT_FILE to \
         a PEM file holding the proxy's CA certificate (docs/security.md, \"Transport\")"
    } else {
        "the server's TLS certificate was refused (expired, or not for this host?): check \
         --api-host and --oauth-url, and the system clock"
    })
}

fn bad(var: &str, path: &Path, problem: &str, fix: &str) -> ApiError {
    ApiError::Config(format!(
        "{var} names {}, which {problem}: {fix}",
        path.display()
    ))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &Path)]) -> Result<Vec<Certificate>, ApiError> {
        let vars: Vec<(String, std::ffi::OsString)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_os_str().to_owned()))
            .collect();
        roots_from(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn only_a_refused_certificate_gets_advice() {
        let unknown = "client error (Connect): invalid peer certificate: UnknownIssuer";
        assert!(
            refused_certificate_advice(unknown)
                .unwrap()
                .contains("SSL_CERT_FILE")
        );
        let expired = "client error (Connect): invalid peer certificate: Expired";
        assert!(
            refused_certificate_advice(expired)
                .unwrap()
                .contains("expired")
        );
        assert_eq!(refused_certificate_advice("connection refused"), None);
    }

    #[test]
    fn unset_means_no_extra_roots() {
        assert!(with(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_bad_bundle_is_an_error_naming_the_variable_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let garbled = dir.path().join("garbled.pem");
        std::fs::write(
            &garbled,
            "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        for (path, problem) in [
            (&missing, "cannot be read"),
            (&garbled, "not a readable PEM"),
            (&empty, "holds no certificate"),
            (&dir.path().to_path_buf(), "not a regular file"),
        ] {
            let err = with(&[(ENV_CERT_FILE, path)]).unwrap_err().to_string();
            assert!(
                err.contains("SSL_CERT_FILE")
                    && err.contains(&path.display().to_string())
                    && err.contains(problem),
                "{err}"
            );
        }
        let err = with(&[(ENV_CERT_FILE, Path::new(""))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("set but empty"), "{err}");
        let err = with(&[(ENV_CERT_DIR, &missing)]).unwrap_err().to_string();
        assert!(
            err.contains("SSL_CERT_DIR") && err.contains("not a directory"),
            "{err}"
        );
    }
}
