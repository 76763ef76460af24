//! TLS trust as a runner expects (README "When things go wrong", docs/reliability.md "TLS trust"): both
//! clients, Dune's and GitHub's, reach an HTTPS server whose certificate comes from a CA made here only
//! when `SSL_CERT_FILE` (or `SSL_CERT_DIR`) names that CA; a variable naming a missing path or a file with
//! no certificate is an input error naming it, exit 2, with nothing sent.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dune_sim::{Scenario, Simulator};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::common::{ActionRun, keyed};
use crate::fake_github::{FakeGitHub, Mode};

const SPEED: f64 = 100.0;
const TOKEN: &str = "ghs_TlsTestToken0123456789";

/// A CA made for the test, and a server certificate for 127.0.0.1 it signed.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// Writes the CA's certificate to `dir/test-ca.pem`; returns its path.
    fn write_ca(&self, dir: &std::path::Path) -> String {
        let file = dir.join("test-ca.pem");
        std::fs::write(&file, &self.ca_pem).unwrap();
        file.to_string_lossy().to_string()
    }
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "dune-pipeline-action test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// An HTTPS front on loopback for a plain-http server (the simulator, the fake GitHub): it terminates TLS
/// and relays the bytes. `handshakes` counts the clients that trusted its certificate.
struct TlsFront {
    url: String,
    handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_front(pki: &Pki, backend: &str) -> TlsFront {
    let backend = backend
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, backend, counted) = (acceptor.clone(), backend.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    TlsFront {
        url,
        handshakes,
        task,
    }
}

fn single() -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            "time_scale: {SPEED}\nqueries:\n  - query_id: 3493826\n    nodes:\n      - {{id: 1, query_id: 3493826, duration: 5s}}\n"
        ))
        .unwrap(),
    )
}

/// A run of query 3493826 against the simulator behind `front`, with `vars` in the environment.
async fn run_through(
    front: &TlsFront,
    sim: &Simulator,
    vars: &[(&str, &str)],
) -> crate::common::Finished {
    let mut run = ActionRun::against(sim, SPEED)
        .input("query_id", "3493826")
        .input("api_url", &front.url)
        .input("request_timeout", "5s");
    for (k, v) in vars {
        run.env.set(*k, *v);
    }
    run.run().await
}

#[tokio::test(flavor = "multi_thread")]
async fn dune_is_reached_only_when_ssl_cert_file_or_dir_names_the_ca() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = pki.write_ca(dir.path());
    let ca_dir = tempfile::tempdir().unwrap();
    pki.write_ca(ca_dir.path());

    // Without the CA: the handshake fails (the built-in roots and the system bundle do not know it), and
    // nothing reaches Dune.
    let sim = Simulator::start(single()).await.unwrap();
    let front = tls_front(&pki, &sim.base_url()).await;
    let done = run_through(&front, &sim, &[]).await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);
    assert!(sim.requests().is_empty());
    assert!(
        done.log.to_lowercase().contains("certificate"),
        "{}",
        done.log
    );

    // SSL_CERT_FILE names the CA: the pipeline runs through TLS.
    let done = run_through(&front, &sim, &[("SSL_CERT_FILE", &ca_file)]).await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert!(front.handshakes.load(Ordering::SeqCst) > 0);
    assert_eq!(sim.pipelines_started(), 1);

    // SSL_CERT_DIR: a directory holding it does the same.
    let dir_path = ca_dir.path().to_string_lossy().to_string();
    let done = run_through(&front, &sim, &[("SSL_CERT_DIR", &dir_path)]).await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(sim.pipelines_started(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_empty_trust_path_is_exit_2_naming_the_variable_and_sends_nothing() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let empty = empty.to_string_lossy().to_string();
    let missing = dir.path().join("missing.pem").to_string_lossy().to_string();
    let empty_dir = tempfile::tempdir().unwrap();
    let empty_dir = empty_dir.path().to_string_lossy().to_string();
    let sim = Simulator::start(single()).await.unwrap();
    let front = tls_front(&pki, &sim.base_url()).await;
    for (var, path) in [
        ("SSL_CERT_FILE", &missing),
        ("SSL_CERT_FILE", &empty),
        ("SSL_CERT_DIR", &missing),
        ("SSL_CERT_DIR", &empty_dir),
    ] {
        let done = run_through(&front, &sim, &[(var, path)]).await;
        assert_eq!(done.exit_code, 2, "{var}={path}: {}", done.log);
        assert_eq!(done.outputs["status"], "error");
        let error = done
            .log
            .lines()
            .find(|l| l.starts_with("::error"))
            .unwrap_or_else(|| panic!("no ::error:: line\n{}", done.log));
        assert!(
            error.contains(var) && error.contains(path.as_str()),
            "{error}"
        );
    }
    assert_eq!(
        front.handshakes.load(Ordering::SeqCst),
        0,
        "nothing was sent"
    );
    assert!(sim.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_github_client_trusts_the_same_roots() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = pki.write_ca(dir.path());
    let gh = FakeGitHub::start(TOKEN, "", Mode::Normal).await;
    let front = tls_front(&pki, gh.api_url()).await;
    let sim = Simulator::start(single()).await.unwrap();

    let github_run = |vars: Vec<(&'static str, String)>| {
        let mut run = ActionRun::against(&sim, SPEED)
            .input("query_id", "3493826")
            .input("github_token", TOKEN)
            .input("pr_comment", "true");
        run.env.set("GITHUB_EVENT_NAME", "pull_request");
        let event = run.workspace().join("event.json");
        std::fs::write(
            &event,
            r#"{"number": 7, "pull_request": {"number": 7, "head": {"sha": "0123456789abcdef0123456789abcdef01234567"}}}"#,
        )
        .unwrap();
        run.env
            .set("GITHUB_EVENT_PATH", event.to_string_lossy().into_owned());
        run.env.set("GITHUB_REPOSITORY", "octo-org/data-models");
        run.env.set("GITHUB_RUN_ID", "4242");
        run.env.set("GITHUB_SERVER_URL", "https://github.com");
        run.env.set("GITHUB_API_URL", front.url.clone());
        for (k, v) in vars {
            run.env.set(k, v);
        }
        run
    };

    // Without the CA the comment cannot be written: a warning, never a failed step.
    let done = github_run(vec![]).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(gh.comments(7).is_empty());
    assert!(
        done.log.lines().any(|l| l.starts_with("::warning")),
        "{}",
        done.log
    );

    // With SSL_CERT_FILE naming the CA, the comment lands.
    let done = github_run(vec![("SSL_CERT_FILE", ca_file)]).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(gh.comments(7).len(), 1, "{}", done.log);
    assert!(front.handshakes.load(Ordering::SeqCst) > 0);
}
