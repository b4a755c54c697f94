//! TLS behind a proxy that inspects it: the Admin API is served over HTTPS on loopback with a
//! certificate from a throwaway CA (as a corporate proxy presents one of its own CA's). keyplan
//! refuses the untrusted certificate, trusts it once `SSL_CERT_FILE` names the CA, and stops
//! with an error naming the variable and the path when the file cannot be used.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

use crate::common::{Env, Finished};

const MANIFEST: &str = crate::common::PROD_READER_FILE_STORE;

/// A CA (its PEM) and a certificate it signed for `localhost` and 127.0.0.1 (DER, with its key).
struct Pki {
    ca_pem: String,
    server_cert: pki_types::CertificateDer<'static>,
    server_key: pki_types::PrivateKeyDer<'static>,
}

fn new_pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "keyplan test proxy CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut server =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = server.signed_by(&key, &ca_cert, &ca_key).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert: cert.der().clone(),
        server_key: pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// Terminates TLS on a loopback port and passes the bytes on to `backend` (the emulator), on a
/// runtime of its own; returns the port. Lives as long as the test process.
fn tls_front(pki: &Pki, backend: SocketAddr) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.server_cert.clone()], pki.server_key.clone_key())
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (ready, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            ready.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A handshake the client abandons (untrusted certificate) just ends here.
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    let mut plain = TcpStream::connect(backend).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    port.recv().unwrap()
}

fn run(env: &Env, port: u16, cert_file: Option<&std::path::Path>) -> Finished {
    let vars: Vec<(&str, &std::path::Path)> = cert_file
        .map(|path| ("SSL_CERT_FILE", path))
        .into_iter()
        .collect();
    run_with(env, port, &vars)
}

/// `keyplan plan` against the TLS front, with these variables set.
fn run_with(env: &Env, port: u16, vars: &[(&str, &std::path::Path)]) -> Finished {
    let base = format!("https://localhost:{port}");
    let mut run = env
        .keyplan(["plan"])
        .env("PINECONE_CONTROLLER_HOST", &base)
        .env("PINECONE_OAUTH_URL", &format!("{base}/oauth/token"));
    for (name, path) in vars {
        run = run.env(name, path.to_str().unwrap());
    }
    run.run()
}

#[test]
fn a_proxy_ca_is_trusted_only_through_ssl_cert_file() {
    let env = Env::new();
    env.project("prod");
    env.manifest(MANIFEST);
    let pki = new_pki();
    let port = tls_front(&pki, env.emulator.addr());

    let untrusted = run(&env, port, None).code(1);
    assert!(
        untrusted.stderr.contains("certificate") && untrusted.stderr.contains("SSL_CERT_FILE"),
        "names the certificate problem and the way out:\n{}",
        untrusted.stderr
    );
    assert_eq!(env.emulator.counters().total, 0, "nothing got through");

    let ca = env.path("proxy-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let trusted = run(&env, port, Some(&ca)).code(0);
    assert!(trusted.stdout.contains("reader"), "{}", trusted.stdout);
    assert!(env.emulator.counters().total > 0);

    // A bundle of several certificates (as system bundles are) works too.
    let other = new_pki();
    let bundle = env.path("bundle.pem");
    std::fs::write(&bundle, format!("{}{}", other.ca_pem, pki.ca_pem)).unwrap();
    run(&env, port, Some(&bundle)).code(0);

    // SSL_CERT_DIR is read by the system-store loader (OpenSSL's convention): it works too,
    // which shows that loader is on.
    let dir = env.path("certs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("proxy-ca.pem"), &pki.ca_pem).unwrap();
    run_with(&env, port, &[("SSL_CERT_DIR", &dir)]).code(0);
}

#[test]
fn an_unusable_ssl_cert_file_is_an_error_naming_it() {
    let env = Env::new();
    env.project("prod");
    env.manifest(MANIFEST);
    let garbled = env.path("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = env.path("missing.pem");
    for (path, problem) in [
        (&garbled, "is not a readable PEM certificate bundle"),
        (&missing, "cannot be read"),
    ] {
        let failed = run(&env, 1, Some(path)).code(1);
        assert!(
            failed.stderr.contains(&format!(
                "SSL_CERT_FILE names {}, which {problem}",
                path.display()
            )),
            "{}",
            failed.stderr
        );
    }
}
