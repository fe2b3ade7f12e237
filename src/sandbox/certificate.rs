//! The payment-encryption certificate: an RSA-2048 key (made by the `rsa` crate, so the sandbox
//! can decrypt with it) wrapped in a self-signed X.509 certificate (made by `rcgen`), served by
//! `GET /certificate` as the docs show it (`id`, PEM `value` with `\r\n` line ends), and
//! rotatable: after a rotation, the previous id is refused.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rsa::pkcs8::EncodePrivateKey;
use rsa::rand_core::OsRng;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use zeroize::Zeroizing;

use crate::upstream::wire;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating the RSA key: {0}")]
    Key(#[from] rsa::Error),
    #[error("encoding the RSA key: {0}")]
    Encode(#[from] rsa::pkcs8::Error),
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
}

impl std::fmt::Debug for CertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertState")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CertState {
    /// A fresh key and certificate with id `sandbox.0.us.<serial>`. CPU-heavy (key generation):
    /// call it off the async workers.
    pub fn generate(serial: u32) -> Result<Self, CertError> {
        let key = RsaPrivateKey::new(&mut OsRng, 2048)?;
        let der = key.to_pkcs8_der()?;
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &der.as_bytes().into(),
            &rcgen::PKCS_RSA_SHA256,
        )?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Ticketmaster Partner API Sandbox Payment Systems",
        );
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "checkout-gateway sandbox");
        let cert = params.self_signed(&key_pair)?;
        // The docs' certificate uses CRLF line ends; clients must cope with them.
        let pem = cert.pem().replace("\r\n", "\n").replace('\n', "\r\n");
        Ok(Self {
            id: format!("sandbox.0.us.{serial}"),
            pem,
            key: Arc::new(key),
        })
    }

    /// The first certificate of a sandbox. Key generation takes seconds in unoptimised builds, so
    /// the sandboxes of one process (e.g. one per test) share their first certificate; rotation
    /// always makes a new key.
    pub fn initial() -> Result<Self, CertError> {
        static INITIAL: Mutex<Option<CertState>> = Mutex::new(None);
        let mut slot = INITIAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cert) = slot.as_ref() {
            return Ok(cert.clone());
        }
        let cert = Self::generate(1)?;
        *slot = Some(cert.clone());
        Ok(cert)
    }

    /// A new key and certificate for a rotation. Serials are unique in the process, so two
    /// sandboxes in one test binary never serve different keys under the same id.
    pub fn rotated() -> Result<Self, CertError> {
        static NEXT_SERIAL: AtomicU32 = AtomicU32::new(2);
        Self::generate(NEXT_SERIAL.fetch_add(1, Ordering::Relaxed))
    }

    pub fn to_wire(&self) -> wire::Certificate {
        wire::Certificate {
            id: self.id.clone(),
            value: self.pem.clone(),
        }
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
        let cert = CertState::generate(7).unwrap();
        assert_eq!(cert.id, "sandbox.0.us.7");
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
