//! TLS in front of a plain-HTTP fake: a CA made for the test (with the `openssl` tool), a
//! server certificate it signed for 127.0.0.1 and `localhost`, and a terminator that accepts TLS
//! with it and forwards the plain bytes to the fake. A client trusts the fake only when told
//! to trust the test CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A CA and a server certificate it signed, as PEM files in a temporary directory.
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// Makes a fresh CA and a certificate for 127.0.0.1 / localhost valid for two days.
    pub fn generate() -> TestCa {
        let dir = tempfile::tempdir().expect("a directory for the test CA");
        let path = dir.path();
        std::fs::write(
            path.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions file");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            path,
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Solstice test CA"],
            ]
            .concat(),
        );
        openssl(
            path,
            &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]].concat(),
        );
        openssl(
            path,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        TestCa { dir }
    }

    /// The CA certificate a client must trust (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let chain = CertificateDer::pem_file_iter(self.dir.path().join("leaf.pem"))
            .expect("read the server certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse the server certificate");
        let key = PrivateKeyDer::from_pem_file(self.dir.path().join("leaf.key")).expect("read the server key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a server certificate rustls accepts");
        Arc::new(config)
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|error| {
        panic!("run openssl (apt-get install openssl): {error}");
    });
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Accepts TLS on a fresh 127.0.0.1 port and forwards each connection's plain bytes to
/// `target`. A handshake the client aborts (it did not trust us) just ends that connection.
pub struct Terminator {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Terminator {
    pub async fn start(ca: &TestCa, target: SocketAddr) -> Terminator {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the TLS terminator");
        let addr = listener.local_addr().expect("the terminator's address");
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config());
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let Ok(mut plain) = TcpStream::connect(target).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Terminator { addr, accept }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
