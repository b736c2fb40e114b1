//! Gateway keys: generation, the two key files, fingerprints, C2SP note key ids.
//!
//! Files written by `edgeproof keygen --dir DIR`:
//!
//! - `DIR/evidence.key` — the Ed25519 signing key as PKCS#8 PEM (RFC 8410 §7,
//!   `-----BEGIN PRIVATE KEY-----`), file mode 0600, never overwritten. Loading refuses a
//!   file that group or others can read.
//! - `DIR/evidence.pub` — the public key as SubjectPublicKeyInfo PEM (RFC 8410 §4,
//!   `-----BEGIN PUBLIC KEY-----`), the file a reviewer keeps. OpenSSL, Go, Python and Java
//!   read both forms without edgeproof.
//!
//! Readers of a public key also accept the bare 32-byte key in standard base64, as the
//! `enroll` record and the bundle header carry it.
//!
//! The fingerprint is `SHA256:` followed by the unpadded base64 of SHA-256 over the 32 raw
//! public-key bytes, short enough to read out over the phone.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// File name of the signing key inside the key directory.
pub const SECRET_FILE: &str = "evidence.key";
/// File name of the public key inside the key directory.
pub const PUBLIC_FILE: &str = "evidence.pub";

/// C2SP signed-note signature type of plain Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// C2SP signed-note signature type of timestamped Ed25519 cosignatures (tlog-cosignature).
pub const SIG_TYPE_COSIGNATURE: u8 = 0x04;

/// RFC 8410 PKCS#8 prefix for an Ed25519 private key (the 32-byte seed follows).
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// RFC 8410 SubjectPublicKeyInfo prefix for an Ed25519 public key (32 bytes follow).
const SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What went wrong with a key or key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file already exists; keys are never overwritten.
    #[error("{path}: already exists; refusing to overwrite a key (move it away first if you really mean to replace it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The signing key file is readable by group or others.
    #[error("{path}: mode {mode:o} lets other users read the signing key; run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The contents are not a key in a form we read.
    #[error("{what}: {why}")]
    Format {
        /// File or field the key came from.
        what: String,
        /// What is wrong.
        why: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_path_buf(), source }
}

/// The gateway's Ed25519 signing key.
pub struct GatewayKey {
    signing: SigningKey,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GatewayKey({})", self.public().fingerprint())
    }
}

impl GatewayKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        GatewayKey { signing: SigningKey::generate(&mut rand_core::OsRng) }
    }

    /// The key with this 32-byte RFC 8032 seed (tests and fixed vectors).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        GatewayKey { signing: SigningKey::from_bytes(&seed) }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    /// The dalek signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// PKCS#8 PEM text of the key.
    pub fn to_pkcs8_pem(&self) -> String {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(self.signing.as_bytes());
        pem("PRIVATE KEY", &der)
    }

    /// Parses PKCS#8 PEM text of an Ed25519 key.
    pub fn from_pkcs8_pem(text: &str, what: &str) -> Result<Self, KeyError> {
        let der = unpem(text, "PRIVATE KEY", what)?;
        let seed = der
            .strip_prefix(&PKCS8_PREFIX[..])
            .and_then(|s| <[u8; 32]>::try_from(s).ok())
            .ok_or_else(|| KeyError::Format {
            what: what.into(),
            why: "not an Ed25519 PKCS#8 private key (RFC 8410)".into(),
        })?;
        Ok(Self::from_seed(seed))
    }

    /// Loads the signing key file; refuses one that group or others can read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path: path.to_path_buf(), mode });
        }
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        Self::from_pkcs8_pem(&text, &path.display().to_string())
    }
}

/// A gateway's (or a witness's) Ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(pub VerifyingKey);

impl PublicKey {
    /// From the 32 raw bytes; rejects encodings that are not points and small-order keys.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, KeyError> {
        let fmt = |why: &str| KeyError::Format { what: what.into(), why: why.into() };
        let arr: [u8; 32] = bytes.try_into().map_err(|_| fmt("an Ed25519 key has 32 bytes"))?;
        let vk = VerifyingKey::from_bytes(&arr).map_err(|_| fmt("not an Ed25519 public key"))?;
        if vk.is_weak() {
            return Err(fmt("a small-order (weak) Ed25519 key cannot be trusted"));
        }
        Ok(PublicKey(vk))
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Standard base64 of the raw key, as in the `enroll` record and the bundle header.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_bytes())
    }

    /// SubjectPublicKeyInfo PEM text.
    pub fn to_spki_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        pem("PUBLIC KEY", &der)
    }

    /// Parses a public key file's text: SPKI PEM, or the raw key in standard base64.
    pub fn parse(text: &str, what: &str) -> Result<Self, KeyError> {
        let t = text.trim();
        if t.starts_with("-----BEGIN") {
            let der = unpem(t, "PUBLIC KEY", what)?;
            let raw = der.strip_prefix(&SPKI_PREFIX[..]).ok_or_else(|| KeyError::Format {
                what: what.into(),
                why: "not an Ed25519 SubjectPublicKeyInfo (RFC 8410)".into(),
            })?;
            return Self::from_bytes(raw, what);
        }
        let raw = B64.decode(t).map_err(|_| KeyError::Format {
            what: what.into(),
            why: "neither a PEM public key nor base64 of a 32-byte Ed25519 key".into(),
        })?;
        Self::from_bytes(&raw, what)
    }

    /// Reads and parses a public key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        if meta.len() > 64 * 1024 {
            return Err(KeyError::Format {
                what: path.display().to_string(),
                why: "too large for a key file".into(),
            });
        }
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// `SHA256:` + unpadded base64 of SHA-256(raw key).
    pub fn fingerprint(&self) -> String {
        let d = Sha256::digest(self.0.as_bytes());
        format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(d))
    }

    /// C2SP note key id of this key under `name` for signature type `sig_type`.
    pub fn key_id(&self, name: &str, sig_type: u8) -> [u8; 4] {
        key_id(name, sig_type, self.0.as_bytes())
    }

    /// The C2SP verifier key (`vkey`) string `<name>+<hex key id>+<base64(type || key)>`.
    pub fn vkey(&self, name: &str, sig_type: u8) -> String {
        let id = self.key_id(name, sig_type);
        let mut material = vec![sig_type];
        material.extend_from_slice(self.0.as_bytes());
        format!("{name}+{}+{}", hex(&id), B64.encode(material))
    }
}

/// C2SP signed-note key id: `SHA-256(name || 0x0A || type || public key)[:4]`.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A parsed C2SP verifier key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name.
    pub name: String,
    /// Signature type byte.
    pub sig_type: u8,
    /// Ed25519 public key.
    pub key: PublicKey,
}

impl VerifierKey {
    /// Parses `<name>+<8 hex>+<base64(type || key)>`, checking that the key id matches.
    pub fn parse(text: &str, what: &str) -> Result<Self, KeyError> {
        let fmt = |why: String| KeyError::Format { what: what.into(), why };
        let t = text.trim();
        let mut parts = t.splitn(3, '+');
        let (name, id, material) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(m)) => (n, i, m),
            _ => return Err(fmt("a verifier key reads <name>+<key id>+<base64 key>".into())),
        };
        if !valid_key_name(name) {
            return Err(fmt(format!("{name:?} is not a valid key name")));
        }
        let material = B64.decode(material).map_err(|_| fmt("key is not base64".into()))?;
        let (&sig_type, key) =
            material.split_first().ok_or_else(|| fmt("key material is empty".into()))?;
        let key = PublicKey::from_bytes(key, what)?;
        let want = hex(&key.key_id(name, sig_type));
        if id != want {
            return Err(fmt(format!("key id {id} does not match the key (expected {want})")));
        }
        Ok(VerifierKey { name: name.into(), sig_type, key })
    }

    /// Reads a verifier key file (one line).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        if meta.len() > 64 * 1024 {
            return Err(KeyError::Format {
                what: path.display().to_string(),
                why: "too large for a key file".into(),
            });
        }
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key.key_id(&self.name, self.sig_type)
    }
}

/// C2SP signed-note key names: non-empty, no Unicode white space, no `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Where `keygen` wrote a key pair.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// The signing key (0600).
    pub secret: PathBuf,
    /// The public key for reviewers.
    pub public: PathBuf,
    /// Fingerprint of the public key.
    pub fingerprint: String,
}

/// Writes `key` as `dir/evidence.key` (0600) and `dir/evidence.pub`, creating `dir` (0700)
/// if needed. Refuses if either file exists; both are fsync'd.
pub fn write_key_files(dir: &Path, key: &GatewayKey) -> Result<KeyFiles, KeyError> {
    let secret = dir.join(SECRET_FILE);
    let public = dir.join(PUBLIC_FILE);
    for p in [&secret, &public] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    if !dir.exists() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err(dir))?;
    }
    write_new(&secret, key.to_pkcs8_pem().as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public, key.public().to_spki_pem().as_bytes(), 0o644) {
        // Leave no signing key behind whose public half nobody could hand to a reviewer.
        let _ = fs::remove_file(&secret);
        return Err(e);
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(KeyFiles { secret, public, fingerprint: key.public().fingerprint() })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(
        |e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists { path: path.to_path_buf() },
            _ => KeyError::Io { path: path.to_path_buf(), source: e },
        },
    )?;
    // The umask may have cleared bits but never adds them; set exactly what we mean.
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = B64.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn unpem(text: &str, label: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    let fmt = |why: String| KeyError::Format { what: what.into(), why };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let t = text.trim();
    let inner = t
        .strip_prefix(&begin)
        .and_then(|r| r.strip_suffix(&end))
        .ok_or_else(|| fmt(format!("expected a PEM block {begin} … {end}")))?;
    let b64: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(b64).map_err(|_| fmt("PEM body is not base64".into()))
}

/// Lower-case hex of a few bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1 TEST 1 key pair.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUB: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn c2sp_key_id_and_vkey_match_the_go_note_vector() {
        // golang.org/x/mod/sumdb/note note_test.go: the PeterNeumann verifier key.
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let v = VerifierKey::parse(vkey, "test").unwrap();
        assert_eq!(v.name, "PeterNeumann");
        assert_eq!(v.sig_type, SIG_TYPE_ED25519);
        assert_eq!(hex(&v.key_id()), "c74f20a3");
        assert_eq!(v.key.vkey("PeterNeumann", SIG_TYPE_ED25519), vkey);
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        ] {
            assert!(VerifierKey::parse(bad, "test").is_err(), "{bad}");
        }
    }

    #[test]
    fn pem_forms_round_trip_and_match_rfc8410() {
        let key = GatewayKey::from_seed(unhex(SEED).try_into().unwrap());
        assert_eq!(key.public().as_bytes().to_vec(), unhex(PUB));
        let sk = key.to_pkcs8_pem();
        assert!(sk.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"), "{sk}");
        let back = GatewayKey::from_pkcs8_pem(&sk, "t").unwrap();
        assert_eq!(back.public(), key.public());
        let pk = key.public().to_spki_pem();
        assert!(pk.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"), "{pk}");
        assert_eq!(PublicKey::parse(&pk, "t").unwrap(), key.public());
        assert_eq!(PublicKey::parse(&key.public().to_base64(), "t").unwrap(), key.public());
        assert!(PublicKey::parse(&sk, "t").is_err());
        assert!(PublicKey::parse("AAAA", "t").is_err());
        // The identity point is a small-order key.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert!(PublicKey::from_bytes(&ident, "t").is_err());
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let kd = dir.path().join("keys");
        let key = GatewayKey::generate();
        let files = write_key_files(&kd, &key).unwrap();
        let mode = fs::metadata(&files.secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(GatewayKey::load(&files.secret).unwrap().public(), key.public());
        assert_eq!(PublicKey::load(&files.public).unwrap(), key.public());
        assert_eq!(files.fingerprint, key.public().fingerprint());
        let before = fs::read(&files.secret).unwrap();
        assert!(matches!(
            write_key_files(&kd, &GatewayKey::generate()),
            Err(KeyError::Exists { .. })
        ));
        assert_eq!(fs::read(&files.secret).unwrap(), before);
        fs::set_permissions(&files.secret, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(GatewayKey::load(&files.secret), Err(KeyError::Permissions { .. })));
    }
}
