//! The payment-encryption certificate: an RSA key of the dialect's `certificate_key` size
//! (1024 or 2048 bits, made by the `rsa` crate, which also signs with it, so the sandbox can
//! decrypt with it) in a self-signed X.509 certificate (laid out by `rcgen`), served by
//! `GET /certificate` as the docs show it (`id`, PEM `value` with `\r\n` line ends), and
//! rotatable: after a rotation, the previous id is refused.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rsa::rand_core::OsRng;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use zeroize::Zeroizing;

use crate::upstream::wire;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating the RSA key: {0}")]
    Key(#[from] rsa::Error),
    #[error("encoding the RSA public key: {0}")]
    EncodePublic(#[from] rsa::pkcs1::Error),
    #[error("building the certificate: {0}")]
    Certificate(#[from] rcgen::Error),
}

impl From<CertError> for std::io::Error {
    fn from(e: CertError) -> Self {
        std::io::Error::other(e)
    }
}

/// The current certificate and the key that decrypts what was encrypted with it.
#[derive(Clone)]
pub struct CertState {
    pub id: String,
    pub pem: String,
    pub key: Arc<RsaPrivateKey>,
    /// The key's modulus length in bits.
    pub bits: usize,
}

impl std::fmt::Debug for CertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertState")
            .field("id", &self.id)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl CertState {
    /// A fresh `bits`-bit key and certificate with id `sandbox.<bits>.us.<serial>`. CPU-heavy
    /// (key generation): call it off the async workers.
    pub fn generate(serial: u32, bits: usize) -> Result<Self, CertError> {
        let key = RsaPrivateKey::new(&mut OsRng, bits)?;
        let signer = RsaSigner::of(&key)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Ticketmaster Partner API Sandbox Payment Systems",
        );
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "checkout-gateway sandbox");
        let cert = params.self_signed(&signer)?;
        // The docs' certificate uses CRLF line ends; clients must cope with them.
        let pem = cert.pem().replace("\r\n", "\n").replace('\n', "\r\n");
        Ok(Self {
            id: format!("sandbox.{bits}.us.{serial}"),
            pem,
            key: Arc::new(key),
            bits,
        })
    }

    /// The first `bits`-bit certificate of a sandbox. Key generation takes seconds in
    /// unoptimised builds, so the sandboxes of one process (e.g. one per test) share their
    /// first certificate of each size; rotation always makes a new key.
    pub fn initial(bits: usize) -> Result<Self, CertError> {
        static INITIAL: Mutex<Vec<CertState>> = Mutex::new(Vec::new());
        let mut made = INITIAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cert) = made.iter().find(|c| c.bits == bits) {
            return Ok(cert.clone());
        }
        let cert = Self::generate(1, bits)?;
        made.push(cert.clone());
        Ok(cert)
    }

    /// A new `bits`-bit key and certificate for a rotation. Serials are unique in the process,
    /// so two sandboxes in one test binary never serve different keys under the same id.
    pub fn rotated(bits: usize) -> Result<Self, CertError> {
        static NEXT_SERIAL: AtomicU32 = AtomicU32::new(2);
        Self::generate(NEXT_SERIAL.fetch_add(1, Ordering::Relaxed), bits)
    }

    /// Replaces `shared`'s certificate with a new `bits`-bit one (made off the async workers);
    /// its id, or `None` when the key could not be made.
    pub async fn rotate(shared: &super::state::Shared, bits: usize) -> Option<String> {
        let cert = tokio::task::spawn_blocking(move || Self::rotated(bits))
            .await
            .ok()?
            .ok()?;
        let id = cert.id.clone();
        shared.lock().cert = cert;
        Some(id)
    }

    pub fn to_wire(&self) -> wire::Certificate {
        wire::Certificate {
            id: self.id.clone(),
            value: self.pem.clone(),
        }
    }
}

/// Signs the sandbox's certificates with the `rsa` crate's key: rcgen's own RSA signer
/// (AWS-LC) takes keys of 2048 bits and more only, and the docs' example key is 1024.
struct RsaSigner<'a> {
    key: &'a RsaPrivateKey,
    /// The PKCS#1 `RSAPublicKey`, as rcgen wants an RSA key's public part.
    public_der: Vec<u8>,
}

impl<'a> RsaSigner<'a> {
    fn of(key: &'a RsaPrivateKey) -> Result<Self, CertError> {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let public_der = key.to_public_key().to_pkcs1_der()?.into_vec();
        Ok(Self { key, public_der })
    }
}

impl rcgen::PublicKeyData for RsaSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public_der
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaSigner<'_> {
    /// RSASSA-PKCS1-v1_5 with SHA-256: the hash behind its fixed `DigestInfo` prefix (RFC 8017
    /// section 9.2, note 1), signed unprefixed.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use sha2::Digest;
        const SHA256_DIGEST_INFO: [u8; 19] = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        let mut info = SHA256_DIGEST_INFO.to_vec();
        info.extend_from_slice(&sha2::Sha256::digest(msg));
        self.key
            .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// Why an encrypted card field was refused. Deliberately carries no plaintext.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("not base64")]
    Base64,
    #[error("does not decrypt with the current key")]
    Decrypt,
    #[error("salt is not 16 characters of [a-zA-Z0-9]")]
    Salt,
    #[error("the value after the salt is not digits")]
    Digits,
}

/// Decrypts one card field (base64 of RSA PKCS#1 v1.5 ciphertext of 16 salt chars + digits) and
/// returns the digits. Every intermediate buffer is zeroized when dropped.
pub fn decrypt_field(key: &RsaPrivateKey, field: &str) -> Result<Zeroizing<String>, FieldError> {
    use base64::Engine;
    let cipher = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(field.trim())
            .map_err(|_| FieldError::Base64)?,
    );
    let plain = Zeroizing::new(
        key.decrypt(Pkcs1v15Encrypt, &cipher)
            .map_err(|_| FieldError::Decrypt)?,
    );
    if plain.len() <= 16 || !plain[..16].iter().all(u8::is_ascii_alphanumeric) {
        return Err(FieldError::Salt);
    }
    let digits = &plain[16..];
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(FieldError::Digits);
    }
    // All ASCII digits, so this cannot fail; map the impossible error rather than unwrap.
    let text = std::str::from_utf8(digits).map_err(|_| FieldError::Digits)?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn encrypt(cert: &CertState, plain: &[u8]) -> String {
        let public = cert.key.to_public_key();
        let c = public.encrypt(&mut OsRng, Pkcs1v15Encrypt, plain).unwrap();
        base64::engine::general_purpose::STANDARD.encode(c)
    }

    #[test]
    fn generates_a_parsable_certificate_and_decrypts_salted_fields() {
        let cert = CertState::generate(7, 2048).unwrap();
        assert_eq!(cert.id, "sandbox.2048.us.7");
        assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----\r\n"));
        assert!(!cert.pem.replace("\r\n", "").contains('\n'));
        let pem = x509_parser::pem::parse_x509_pem(cert.pem.as_bytes())
            .unwrap()
            .1;
        assert!(pem.parse_x509().is_ok());

        let ok = encrypt(&cert, b"abcdEFGH12345678123");
        assert_eq!(decrypt_field(&cert.key, &ok).unwrap().as_str(), "123");
        let bad_salt = encrypt(&cert, b"abc-EFGH12345678123");
        assert_eq!(decrypt_field(&cert.key, &bad_salt), Err(FieldError::Salt));
        let no_digits = encrypt(&cert, b"abcdEFGH12345678x23");
        assert_eq!(
            decrypt_field(&cert.key, &no_digits),
            Err(FieldError::Digits)
        );
        assert_eq!(decrypt_field(&cert.key, "!!"), Err(FieldError::Base64));
        assert_eq!(decrypt_field(&cert.key, "AAAA"), Err(FieldError::Decrypt));
    }
}
