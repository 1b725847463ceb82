//! The HTTP client every outbound call to a forge (Forgejo, GitHub) or an image mirror is made
//! with: reqwest over rustls with the host's root certificates, plus what a host behind a
//! company network needs.
//!
//! - Proxies come from the standard environment variables, read by reqwest with curl's rules:
//!   `HTTPS_PROXY` / `https_proxy` for `https://` URLs, `HTTP_PROXY` / `http_proxy` for
//!   `http://` ones, `ALL_PROXY` / `all_proxy` for both, and `NO_PROXY` / `no_proxy` (host
//!   names, domain suffixes, IP addresses and CIDR ranges, `*` for all) for the exceptions.
//! - `SOLSTICE_CA_FILE` names a PEM file of extra CA certificates (a company root, a private
//!   Forgejo's own CA). They are trusted *in addition to* the system roots, so a forge on a
//!   public certificate keeps working beside one on a private CA.
//!
//! [`tls_config`] gives the same trust to connections reqwest does not make (a websocket).
//!
//! A CA file that cannot be read or holds no certificate is an error when the client is built:
//! the daemon says which file and why at start instead of failing every TLS handshake later.

use std::path::{Path, PathBuf};

/// The environment variable naming the extra CA certificates.
pub const CA_FILE_ENV: &str = "SOLSTICE_CA_FILE";

/// What the client is built with beyond what reqwest reads itself (the proxy variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// A PEM bundle of CA certificates trusted besides the system roots.
    pub ca_file: Option<PathBuf>,
}

impl HttpSettings {
    /// `SOLSTICE_CA_FILE`; empty or unset is none.
    pub fn from_env() -> HttpSettings {
        let ca_file = std::env::var_os(CA_FILE_ENV).filter(|value| !value.is_empty()).map(PathBuf::from);
        HttpSettings { ca_file }
    }
}

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("read the CA certificates in {} ({CA_FILE_ENV}): {source}", path.display())]
    ReadCaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} ({CA_FILE_ENV}) holds no PEM certificate (a \"BEGIN CERTIFICATE\" block)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} ({CA_FILE_ENV}) holds a certificate that cannot be used: {source}", path.display())]
    BadCertificate {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("{} ({CA_FILE_ENV}) holds a certificate that cannot be used: {reason}", path.display())]
    BadTlsCertificate { path: PathBuf, reason: String },
    #[error("build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    #[error("set up TLS: {0}")]
    Tls(String),
}

/// A client from the environment's settings; `configure` adds the caller's own (user agent,
/// timeouts, compression).
pub fn client(
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, SetupError> {
    client_with(&HttpSettings::from_env(), configure)
}

/// A client from explicit settings.
pub fn client_with(
    settings: &HttpSettings,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, SetupError> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &settings.ca_file {
        for certificate in read_ca_file(path)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    configure(builder).build().map_err(|source| match &settings.ca_file {
        // rustls refuses a malformed root only when the client is built.
        Some(path) if is_certificate_error(&source) => SetupError::BadCertificate { path: path.clone(), source },
        _ => SetupError::Build(source),
    })
}

/// A rustls client configuration for connections reqwest does not make (the GitHub live
/// console's websocket): the system roots plus `SOLSTICE_CA_FILE`'s, on the ring provider.
pub fn tls_config() -> Result<std::sync::Arc<rustls::ClientConfig>, SetupError> {
    tls_config_with(&HttpSettings::from_env())
}

/// [`tls_config`] from explicit settings.
pub fn tls_config_with(settings: &HttpSettings) -> Result<std::sync::Arc<rustls::ClientConfig>, SetupError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "a system root certificate could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system root certificates");
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).map_err(|source| SetupError::ReadCaFile { path: path.clone(), source })?;
        let mut count = 0;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate = certificate
                .map_err(|error| SetupError::BadTlsCertificate { path: path.clone(), reason: error.to_string() })?;
            roots
                .add(certificate)
                .map_err(|error| SetupError::BadTlsCertificate { path: path.clone(), reason: error.to_string() })?;
            count += 1;
        }
        if count == 0 {
            return Err(SetupError::NoCertificate { path: path.clone() });
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| SetupError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, SetupError> {
    let pem = std::fs::read(path).map_err(|source| SetupError::ReadCaFile { path: path.to_owned(), source })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|source| SetupError::BadCertificate { path: path.to_owned(), source })?;
    if certificates.is_empty() {
        return Err(SetupError::NoCertificate { path: path.to_owned() });
    }
    tracing::debug!(path = %path.display(), certificates = certificates.len(), "trusting extra CA certificates");
    Ok(certificates)
}

fn is_certificate_error(error: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        let text = current.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("trust anchor") {
            return true;
        }
        source = current.source();
    }
    false
}
