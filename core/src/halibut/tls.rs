//! TLS for Halibut (§1): rustls configs on the ring provider that identify peers only by certificate thumbprint, never by webpki chain, name or extension checks.
//!
//! Halibut peers present self-signed certificates, some SHA-1 signed with a critical Authority
//! Key Identifier, which webpki refuses to parse (§13.6). So nothing here hands a peer
//! certificate, or our own, to webpki: thumbprints are SHA-1 over the DER, and handshake
//! signatures are checked against the SubjectPublicKeyInfo we pull out ourselves.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, CommonState, DigitallySignedStruct,
    DistinguishedName, OtherError, PeerIncompatible, PeerMisbehaved, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::certificate::TentacleCertificate;
use crate::trust::Thumbprint;

/// TLS 1.2 and 1.3: older Halibut peers top out at 1.2 (§1.1).
const VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Why a TLS config could not be built or a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The server's certificate thumbprint is not the pinned one (Halibut's wording, §1.3).
    #[error(
        "The server at {url_or_host} presented an unexpected security certificate. We expected the server to present a certificate with the thumbprint '{expected}'. Instead, it presented a certificate with a thumbprint of '{actual}' and subject '{subject}'. Check the trusted thumbprint configured for this server, and that no proxy or load balancer in between terminates TLS"
    )]
    UnexpectedServerCertificate {
        /// The URL or host we connected to.
        url_or_host: String,
        /// The pinned thumbprint.
        expected: Thumbprint,
        /// What the server presented.
        actual: Thumbprint,
        /// Subject of the presented certificate, or `<unreadable>`.
        subject: String,
    },
    /// Our own private key cannot sign TLS handshakes.
    #[error(
        "This Tentacle's private key cannot be used for TLS ({0}). Use an RSA key of 2048 to 4096 bits or an ECDSA P-256/P-384 key; create a new one with: tentacle new-certificate"
    )]
    BadPrivateKey(String),
    /// rustls refused the configuration.
    #[error("Could not build the TLS configuration: {0}")]
    Config(String),
    /// A host that is neither a DNS name nor an IP address.
    #[error("'{host}' is not a valid host name or IP address for TLS. Check the address")]
    BadServerName {
        /// The host as given.
        host: String,
    },
    /// The handshake failed for another reason; `hint` says what usually causes it.
    #[error("The TLS handshake failed: {source}. {hint}. Peer: {peer}")]
    Handshake {
        /// Who we were talking to (host:port or address).
        peer: String,
        /// The likely cause and fix.
        hint: &'static str,
        /// What rustls or the socket reported.
        #[source]
        source: io::Error,
    },
    /// The handshake did not finish in time.
    #[error(
        "The TLS handshake did not finish within {secs} s: the peer accepted the TCP connection but did not complete TLS. Check that this address is a Tentacle or Octopus Server communications port. Peer: {peer}"
    )]
    HandshakeTimeout {
        /// Who we were talking to.
        peer: String,
        /// The limit in seconds.
        secs: u64,
    },
}

impl TlsError {
    /// Classifies an error from a tokio-rustls handshake: a pinning failure becomes
    /// [`TlsError::UnexpectedServerCertificate`] (with `peer` as its URL), anything else
    /// [`TlsError::Handshake`] with a hint.
    pub fn from_handshake(peer: &str, source: io::Error) -> TlsError {
        if let Some(pin) = pinning_failure(&source) {
            return pin.for_url(peer);
        }
        TlsError::Handshake {
            peer: peer.to_owned(),
            hint: handshake_hint(&source),
            source,
        }
    }

    /// Replaces the host in an [`TlsError::UnexpectedServerCertificate`] with the full URL
    /// the caller knows; other variants are returned unchanged.
    pub fn for_url(self, url: &str) -> TlsError {
        match self {
            TlsError::UnexpectedServerCertificate {
                expected,
                actual,
                subject,
                ..
            } => TlsError::UnexpectedServerCertificate {
                url_or_host: url.to_owned(),
                expected,
                actual,
                subject,
            },
            other => other,
        }
    }
}

/// The pinning failure as it travels inside rustls' error (rustls only carries `Arc<dyn Error>`).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the server certificate thumbprint {actual} is not the expected {expected} (subject '{subject}', server {url_or_host})"
)]
struct PinMismatch {
    url_or_host: String,
    expected: Thumbprint,
    actual: Thumbprint,
    subject: String,
}

/// Digs our pinning failure out of the `io::Error` tokio-rustls returns from a failed handshake.
pub fn pinning_failure(err: &io::Error) -> Option<TlsError> {
    let rustls_err = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    let other = match rustls_err {
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) | rustls::Error::Other(o) => {
            o
        }
        _ => return None,
    };
    let pin = other.0.downcast_ref::<PinMismatch>()?.clone();
    Some(TlsError::UnexpectedServerCertificate {
        url_or_host: pin.url_or_host,
        expected: pin.expected,
        actual: pin.actual,
        subject: pin.subject,
    })
}

/// The likely cause of a handshake failure, for people rather than for code.
fn handshake_hint(err: &io::Error) -> &'static str {
    const CIPHERS: &str = "The peer and this Tentacle share no cipher suite, key exchange or signature scheme: we support TLS 1.2 and 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305 only (no CBC suites, no RSA key exchange, no SHA-1 handshake signatures). Enable TLS 1.2 GCM suites on the peer (old Windows hosts need updates or registry changes)";
    const VERSION: &str = "The peer does not offer TLS 1.2 or 1.3, the only versions we support. Enable TLS 1.2 on the peer";
    const REJECTED: &str = "The peer rejected our certificate. Make sure the peer trusts this machine's certificate thumbprint";
    const NOT_TLS: &str = "The peer is not speaking TLS here (plain HTTP to an https:// address, or another service on this port?)";
    const CLOSED: &str = "The peer closed the connection during the handshake: it may have refused our certificate or our TLS versions, or it is not a Tentacle or Octopus Server port";
    const DEFAULT: &str = "Check that the peer is a Tentacle or Octopus Server communications port speaking TLS 1.2 or later";

    if let Some(e) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        return match e {
            rustls::Error::PeerIncompatible(
                PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::ServerDoesNotSupportTls12Or13
                | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
            ) => VERSION,
            rustls::Error::PeerIncompatible(_) => CIPHERS,
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => VERSION,
            rustls::Error::AlertReceived(
                AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
            ) => CIPHERS,
            rustls::Error::AlertReceived(
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::AccessDenied
                | AlertDescription::CertificateRequired,
            ) => REJECTED,
            rustls::Error::NoCertificatesPresented => {
                "The peer sent no certificate; Halibut peers always present one"
            }
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => NOT_TLS,
            rustls::Error::InvalidCertificate(_) => {
                "The peer's certificate or its handshake signature did not verify; RSA keys must have 2048 to 8192 bits"
            }
            _ => DEFAULT,
        };
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => CLOSED,
        _ => DEFAULT,
    }
}

/// A fresh ring provider each time: never the process default, which other code may change.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Our certificate and key as rustls wants them, without `with_single_cert`, whose key/cert
/// consistency check parses our certificate with webpki and so rejects Halibut-style ones.
/// `TentacleCertificate` already checked that key and certificate belong together.
fn certified_key(
    own: &TentacleCertificate,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(own.key_pkcs8_der().to_vec()));
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadPrivateKey(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(own.cert_der().to_vec())],
        signer,
    )))
}

/// The listener's config: presents `own`, asks for (but does not require) a client
/// certificate and accepts any; callers check `peer_thumbprint` after reading `MX` (§1.4).
pub fn server_config(own: &TentacleCertificate) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with_versions(own, VERSIONS)
}

fn server_config_with_versions(
    own: &TentacleCertificate,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let key = certified_key(own, &provider)?;
    let verifier = Arc::new(AnyClientCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    Ok(Arc::new(config))
}

/// The initiator's config: always sends `own`, accepts only a server whose certificate
/// thumbprint is `expected` (§1.3). A mismatch fails the handshake; recover the typed error
/// with [`pinning_failure`] or [`TlsError::from_handshake`].
pub fn client_config(
    own: &TentacleCertificate,
    expected: &Thumbprint,
) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_with_versions(own, expected, VERSIONS)
}

fn client_config_with_versions(
    own: &TentacleCertificate,
    expected: &Thumbprint,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let key = certified_key(own, &provider)?;
    let verifier = Arc::new(PinnedServer {
        expected: Some(expected.clone()),
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    // A resumed session skips the certificate check; pinning must be proven on every connection.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// A config for the discovery probe and diagnostics (§2.4): no client certificate, any server
/// certificate accepted (handshake signatures are still checked). Read the result with
/// [`peer_thumbprint`].
pub fn probe_config() -> Arc<ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(PinnedServer {
        expected: None,
        algorithms: provider.signature_verification_algorithms,
    });
    // The ring provider implements both versions, so this cannot fail.
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .expect("the ring provider supports TLS 1.2 and 1.3");
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The peer's certificate thumbprint (SHA-1 of the end-entity DER), or `None` if it sent none.
pub fn peer_thumbprint(state: &CommonState) -> Option<Thumbprint> {
    state
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|c| Thumbprint::of_der(c.as_ref()))
}

/// The TLS server name for `host`: DNS names are sent as SNI; IP literals (IPv6 with or
/// without brackets) become IP server names, for which rustls sends no SNI, as .NET does.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::BadServerName {
        host: host.to_owned(),
    })
}

/// Runs the client handshake over `stream` within `timeout`, with typed errors.
/// `host` is the name for SNI and for messages.
pub async fn connect<S>(
    stream: S,
    config: Arc<ClientConfig>,
    host: &str,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = server_name(host)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(TlsError::from_handshake(host, e)),
        Err(_) => Err(TlsError::HandshakeTimeout {
            peer: host.to_owned(),
            secs: timeout.as_secs(),
        }),
    }
}

/// Runs the server handshake over `stream` within `timeout`, with typed errors.
/// `peer` (usually the remote address) only appears in messages.
pub async fn accept<S>(
    stream: S,
    config: Arc<ServerConfig>,
    peer: &str,
    timeout: Duration,
) -> Result<tokio_rustls::server::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(TlsError::from_handshake(peer, e)),
        Err(_) => Err(TlsError::HandshakeTimeout {
            peer: peer.to_owned(),
            secs: timeout.as_secs(),
        }),
    }
}

/// Server-side verifier: offers client auth, accepts any certificate or none.
#[derive(Debug)]
struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Browsers and the discovery probe connect without a certificate (§1.4, §2.4).
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.algorithms, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.algorithms, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Client-side verifier: the server certificate must have thumbprint `expected`
/// (`None`: anything, for the probe).
#[derive(Debug)]
struct PinnedServer {
    expected: Option<Thumbprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(expected) = &self.expected else {
            return Ok(ServerCertVerified::assertion());
        };
        let actual = Thumbprint::of_der(end_entity.as_ref());
        if &actual == expected {
            return Ok(ServerCertVerified::assertion());
        }
        let mismatch = PinMismatch {
            url_or_host: server_name.to_str().into_owned(),
            expected: expected.clone(),
            actual,
            subject: subject_of(end_entity.as_ref()),
        };
        // InvalidCertificate makes rustls send a bad_certificate alert, which tells the
        // server why we hung up.
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(mismatch)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.algorithms, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.algorithms, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificate subject for messages; certificates we cannot parse still get a message.
fn subject_of(der: &[u8]) -> String {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.subject().to_string())
        .unwrap_or_else(|_| "<unreadable>".to_owned())
}

/// Checks a handshake signature with the certificate's public key: the proof that the peer
/// holds the key behind the thumbprint. Does what `rustls::crypto::verify_tls1x_signature`
/// does, minus its webpki parse of the whole certificate.
fn verify_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let unadvertised =
        || rustls::Error::PeerMisbehaved(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme);
    if tls13 && !allowed_in_tls13(dss.scheme) {
        return Err(unadvertised());
    }
    let candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .ok_or_else(unadvertised)?;
    // TLS 1.3 schemes name one algorithm exactly; TLS 1.2 ones may map to several.
    let candidates = if tls13 {
        candidates.get(..1).unwrap_or_default()
    } else {
        candidates
    };
    let (key_algorithm, key) = spki_parts(cert.as_ref()).ok_or(
        rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
    )?;
    for alg in candidates {
        if alg.public_key_alg_id().as_ref() != key_algorithm {
            continue;
        }
        return alg
            .verify_signature(key, message, dss.signature())
            .map(|()| HandshakeSignatureValid::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature));
    }
    Err(rustls::Error::InvalidCertificate(
        CertificateError::BadSignature,
    ))
}

/// TLS 1.3 forbids PKCS#1 v1.5 and SHA-1 handshake signatures (RFC 8446 §4.2.3); rustls'
/// own check for this is crate-private.
fn allowed_in_tls13(scheme: SignatureScheme) -> bool {
    matches!(
        scheme,
        SignatureScheme::ECDSA_NISTP256_SHA256
            | SignatureScheme::ECDSA_NISTP384_SHA384
            | SignatureScheme::ECDSA_NISTP521_SHA512
            | SignatureScheme::RSA_PSS_SHA256
            | SignatureScheme::RSA_PSS_SHA384
            | SignatureScheme::RSA_PSS_SHA512
            | SignatureScheme::ED25519
            | SignatureScheme::ED448
    )
}

/// The AlgorithmIdentifier contents (without its SEQUENCE header, as rustls compares them)
/// and the public key bits of a certificate's SubjectPublicKeyInfo.
fn spki_parts(cert_der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    // `raw` borrows from `cert_der`, not from `cert`, so it outlives the parsed certificate.
    let spki: &[u8] = cert.tbs_certificate.subject_pki.raw;
    let (tag, body, _) = der_element(spki)?;
    if tag != 0x30 {
        return None;
    }
    let (alg_tag, alg, rest) = der_element(body)?;
    let (bits_tag, bits, _) = der_element(rest)?;
    if alg_tag != 0x30 || bits_tag != 0x03 {
        return None;
    }
    // A BIT STRING starts with its count of unused bits, which must be 0 for a key.
    match bits.split_first() {
        Some((0, key)) => Some((alg, key)),
        _ => None,
    }
}

/// One DER element: (tag, contents, rest). Definite lengths up to 4 bytes only.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::certificate::generate;

    /// Two certificates shared by all tests: RSA key generation is the slow part.
    static CERTS: LazyLock<(TentacleCertificate, TentacleCertificate)> =
        LazyLock::new(|| (generate().unwrap(), generate().unwrap()));

    fn server_cert() -> &'static TentacleCertificate {
        &CERTS.0
    }

    fn client_cert() -> &'static TentacleCertificate {
        &CERTS.1
    }

    const T: Duration = Duration::from_secs(10);

    type Pair = (
        Result<tokio_rustls::client::TlsStream<TcpStream>, TlsError>,
        Result<tokio_rustls::server::TlsStream<TcpStream>, TlsError>,
    );

    /// Handshakes a client config against a server config over real loopback TCP.
    async fn handshake(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Pair {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_side = async {
            let (tcp, peer) = listener.accept().await.unwrap();
            accept(tcp, server, &peer.to_string(), T).await
        };
        let client_side = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            connect(tcp, client, "127.0.0.1", T).await
        };
        tokio::time::timeout(T, async { tokio::join!(client_side, server_side) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn mutual_tls_pins_both_ways_on_tls13_and_tls12() {
        for (versions, expected) in [
            (
                &[&rustls::version::TLS13][..],
                rustls::ProtocolVersion::TLSv1_3,
            ),
            (
                &[&rustls::version::TLS12][..],
                rustls::ProtocolVersion::TLSv1_2,
            ),
        ] {
            let server = server_config_with_versions(server_cert(), versions).unwrap();
            let client =
                client_config_with_versions(client_cert(), &server_cert().thumbprint(), versions)
                    .unwrap();
            let (c, s) = handshake(server, client).await;
            let mut c = c.unwrap();
            let mut s = s.unwrap();
            assert_eq!(c.get_ref().1.protocol_version(), Some(expected));
            assert_eq!(
                peer_thumbprint(c.get_ref().1),
                Some(server_cert().thumbprint())
            );
            assert_eq!(
                peer_thumbprint(s.get_ref().1),
                Some(client_cert().thumbprint())
            );
            c.write_all(b"MX\r\n\r\n").await.unwrap();
            c.flush().await.unwrap();
            let mut got = [0u8; 6];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"MX\r\n\r\n");
        }
    }

    #[tokio::test]
    async fn default_configs_negotiate_tls13() {
        let server = server_config(server_cert()).unwrap();
        let client = client_config(client_cert(), &server_cert().thumbprint()).unwrap();
        let (c, s) = handshake(server, client).await;
        assert_eq!(
            c.unwrap().get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        s.unwrap();
    }

    #[tokio::test]
    async fn wrong_pin_is_refused_with_both_thumbprints() {
        let wrong = client_cert().thumbprint();
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let server = server_config_with_versions(server_cert(), versions).unwrap();
            let client = client_config_with_versions(client_cert(), &wrong, versions).unwrap();
            let (c, s) = handshake(server, client).await;
            let err = c.unwrap_err();
            let TlsError::UnexpectedServerCertificate {
                url_or_host,
                expected,
                actual,
                subject,
            } = &err
            else {
                panic!("{err:?}");
            };
            assert_eq!(url_or_host, "127.0.0.1");
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &server_cert().thumbprint());
            assert_eq!(subject, "CN=Octopus Tentacle");
            let text = err.to_string();
            assert!(
                text.starts_with(
                    "The server at 127.0.0.1 presented an unexpected security certificate"
                ),
                "{text}"
            );
            assert!(
                text.contains(wrong.as_str()) && text.contains(server_cert().thumbprint().as_str()),
                "{text}"
            );
            // The server learns why: our bad_certificate alert.
            let server_err = s.unwrap_err();
            assert!(
                server_err.to_string().contains("rejected our certificate"),
                "{server_err}"
            );
            // A full URL from the caller replaces the bare host.
            assert!(
                err.for_url("https://octopus:10943/")
                    .to_string()
                    .starts_with("The server at https://octopus:10943/ presented")
            );
        }
    }

    #[tokio::test]
    async fn client_without_certificate_still_connects() {
        let server = server_config(server_cert()).unwrap();
        let (c, s) = handshake(server, probe_config()).await;
        let c = c.unwrap();
        let s = s.unwrap();
        assert_eq!(
            peer_thumbprint(c.get_ref().1),
            Some(server_cert().thumbprint())
        );
        assert_eq!(peer_thumbprint(s.get_ref().1), None);
    }

    #[tokio::test]
    async fn plain_http_to_the_tls_port_is_explained() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server_config(server_cert()).unwrap();
        let browser = async {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut sink = Vec::new();
            let _ = tcp.read_to_end(&mut sink).await;
        };
        let server_side = async {
            let (tcp, _) = listener.accept().await.unwrap();
            accept(tcp, server, "browser", T).await
        };
        let ((), result) = tokio::join!(browser, server_side);
        let err = result.unwrap_err();
        assert!(err.to_string().contains("not speaking TLS"), "{err}");
        assert!(err.to_string().ends_with("Peer: browser"), "{err}");
    }

    #[tokio::test]
    async fn silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(tcp);
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let client = client_config(client_cert(), &server_cert().thumbprint()).unwrap();
        let err = connect(tcp, client, "localhost", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::HandshakeTimeout { .. }), "{err:?}");
    }

    #[test]
    fn server_names_follow_dotnet_sni_rules() {
        assert!(matches!(
            server_name("octopus.example.com").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("10.1.2.3").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[2001:db8::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("::1").unwrap(),
            ServerName::IpAddress(_)
        ));
        let err = server_name("not a host!").unwrap_err();
        assert!(err.to_string().contains("'not a host!'"), "{err}");
    }

    #[test]
    fn spki_is_found_without_webpki() {
        let (alg, key) = spki_parts(server_cert().cert_der()).unwrap();
        // rsaEncryption with NULL parameters, as rustls' RSA verifiers expect.
        assert_eq!(alg, rustls::pki_types::alg_id::RSA_ENCRYPTION.as_ref());
        let (_, cert) = x509_parser::parse_x509_certificate(server_cert().cert_der()).unwrap();
        assert_eq!(key, cert.public_key().subject_public_key.data.as_ref());
        assert!(spki_parts(b"\x30\x03\x02\x01\x00").is_none());
        assert_eq!(
            der_element(&[0x04, 0x82, 0x00, 0x01, 0xAA]),
            Some((0x04, &[0xAA][..], &[][..]))
        );
        assert_eq!(der_element(&[0x04, 0x05, 0x00]), None);
    }

    #[test]
    fn io_errors_without_rustls_inside_get_generic_hints() {
        let err = TlsError::from_handshake("p", io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(
            err.to_string()
                .contains("closed the connection during the handshake"),
            "{err}"
        );
        assert!(pinning_failure(&io::Error::other("x")).is_none());
    }
}
