//! A throw-away PKI generated per test with rcgen: a CA, a broker certificate for
//! 127.0.0.1/localhost, a client certificate for mutual TLS, and an unrelated CA.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// PEM files in a temp dir that lives as long as this value.
pub struct Pki {
    /// Keeps the files.
    pub dir: tempfile::TempDir,
    /// The CA that signed the broker and client certificates.
    pub ca: PathBuf,
    /// The broker's certificate.
    pub server_cert: PathBuf,
    /// The broker's key.
    pub server_key: PathBuf,
    /// The gateway's client certificate.
    pub client_cert: PathBuf,
    /// The gateway's client key.
    pub client_key: PathBuf,
    /// A CA that signed nothing here: trusting it must fail verification.
    pub other_ca: PathBuf,
}

impl Pki {
    /// Generates every key and certificate.
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir for the PKI");
        let write = |name: &str, text: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write PEM");
            p
        };
        // Every certificate gets its own subject: OpenSSL (mosquitto) takes a certificate
        // whose subject equals its issuer for self-signed, and two CAs with one name make
        // rustls report a bad signature instead of an unknown issuer.
        let params = |sans: Vec<String>, cn: &str, ca: bool| {
            let mut p = CertificateParams::new(sans).expect("certificate params");
            p.distinguished_name.push(DnType::CommonName, cn);
            if ca {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            }
            p
        };

        let ca_key = KeyPair::generate().expect("CA key");
        let ca_params = params(vec![], "edgeproof integration test CA", true);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("broker key");
        let server_cert =
            params(vec!["127.0.0.1".into(), "localhost".into()], "test broker", false)
                .signed_by(&server_key, &issuer)
                .expect("broker certificate");
        let client_key = KeyPair::generate().expect("client key");
        let client_cert = params(vec!["gw-test".into()], "gw-test", false)
            .signed_by(&client_key, &issuer)
            .expect("client certificate");

        let other_key = KeyPair::generate().expect("other CA key");
        let other_ca = params(vec![], "some other CA", true)
            .self_signed(&other_key)
            .expect("other CA certificate");

        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            server_cert: write("server.pem", server_cert.pem()),
            server_key: write("server.key", server_key.serialize_pem()),
            client_cert: write("client.pem", client_cert.pem()),
            client_key: write("client.key", client_key.serialize_pem()),
            other_ca: write("other-ca.pem", other_ca.pem()),
            dir,
        }
    }
}
