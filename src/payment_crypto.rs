//! Payment encryption: turns the upstream's payment certificate into an RSA public key, salts
//! and encrypts card number and CVV the way the Partner API expects, and caches the key for the
//! certificate's 24 h validity.
//!
//! The upstream recipe ("Add payment information to cart"): prefix the secret with 16 random
//! printable characters (the FAQ lists `[a-zA-Z0-9]`), encrypt with RSA PKCS#1 v1.5 under the
//! certificate's key, send standard base64. Plaintext buffers are zeroized after use, and no
//! error here carries card data.
//!
//! The public-key operation runs in AWS-LC (the TLS stack's library, already linked) for the
//! 2048–8192-bit keys it accepts, and in RustCrypto's `rsa` for 1024–2047 bits: the docs' own
//! example certificate holds a 1024-bit key, which AWS-LC refuses. A key under 1024 bits
//! ([`MIN_KEY_BITS`]) is refused: no card is encrypted under it. AWS-LC encrypts about eight
//! times faster (`bench flow` prints the rate against `openssl speed`), and a payment makes two
//! encryptions on its answer's path.
//!
//! # Layout
//! - [`PaymentEncryptor`]: one certificate's key; `encrypt`, `encrypt_card`.
//! - [`CertificateCache`]: single-flight cache of the current encryptor, with `invalidate` for
//!   when upstream refuses the key.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use chrono::{DateTime, TimeDelta, Utc};
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use zeroize::Zeroizing;

use crate::card::{CardNumber, Cvv};
use crate::upstream::wire;

/// Length of the random prefix the upstream expects before each secret.
pub const SALT_LEN: usize = 16;

/// The salt alphabet: the FAQ's "valid characters to use for salting".
const SALT_ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Why a certificate could not be used or a value not encrypted. No variant carries the
/// plaintext; certificate parse errors concern public data only.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("payment certificate is not PEM/base64 text")]
    MalformedPem,
    #[error("payment certificate is not a valid X.509 certificate: {0}")]
    InvalidCertificate(String),
    #[error("payment certificate does not hold an RSA public key")]
    NotRsaKey(#[source] rsa::pkcs8::spki::Error),
    #[error(
        "payment certificate's RSA key has {bits} bits, fewer than the {MIN_KEY_BITS} accepted"
    )]
    WeakKey { bits: usize },
    #[error("the operating system's random generator failed")]
    Rng(#[source] rsa::rand_core::Error),
    #[error("value too long to encrypt under a {key_bits}-bit key")]
    TooLong { key_bits: usize },
    #[error("RSA encryption failed")]
    Encrypt(#[source] Box<dyn std::error::Error + Send + Sync>),
}

// ---------------------------------------------------------------- encryptor

/// The smallest key a card is encrypted under: the docs' own example certificate's size
/// (1024 bits; see `docs/upstream-assumptions.md`, row 22). A smaller one (a 512-bit key is
/// factored in hours) is refused.
pub const MIN_KEY_BITS: usize = 1024;

/// One payment certificate's public key, ready to encrypt card fields.
pub struct PaymentEncryptor {
    certificate_id: String,
    key: PublicKey,
}

/// The certificate's key in the implementation that encrypts with it (see the module doc).
enum PublicKey {
    AwsLc(Pkcs1PublicEncryptingKey),
    RustCrypto(RsaPublicKey),
}

impl std::fmt::Debug for PaymentEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentEncryptor")
            .field("certificate_id", &self.certificate_id)
            .field("key_bits", &self.key_bits())
            .field("implementation", &self.implementation())
            .finish()
    }
}

/// Card number and CVV ciphertexts plus the certificate id they were made with: the three
/// values of `wire::EncryptedCard` that come from encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFields {
    /// base64 ciphertext of salt + card number.
    pub number: String,
    /// base64 ciphertext of salt + CVV (the upstream calls the CVV `cin`).
    pub cin: String,
    /// The certificate id, sent as `encryption_key`.
    pub encryption_key: String,
}

impl EncryptedFields {
    /// Completes the upstream card object with the non-secret fields.
    pub fn into_wire(
        self,
        expire_month: u8,
        expire_year: u16,
        postal_code: String,
    ) -> wire::EncryptedCard {
        wire::EncryptedCard {
            number: self.number,
            cin: self.cin,
            encryption_key: self.encryption_key,
            expire_month,
            expire_year,
            postal_code,
        }
    }
}

impl PaymentEncryptor {
    /// Reads the certificate's RSA key. The PEM may use `\r\n`, indented lines or no line
    /// breaks at all: like the docs' Java sample, the BEGIN/END markers and all whitespace are
    /// stripped and the rest is base64-decoded.
    pub fn from_certificate(certificate: &wire::Certificate) -> Result<Self, CryptoError> {
        let der = pem_to_der(&certificate.value)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
        let spki = cert.public_key().raw;
        // AWS-LC takes the sizes it encrypts under (2048–8192 bits); RustCrypto the rest up to
        // 4096 bits, and says what is not an RSA key. (RustCrypto read first refused every key
        // over 4096 bits: a rotation to a larger key would have failed every payment.)
        let key = match PublicEncryptingKey::from_der(spki)
            .ok()
            .and_then(|key| Pkcs1PublicEncryptingKey::new(key).ok())
        {
            Some(aws_lc) => PublicKey::AwsLc(aws_lc),
            None => PublicKey::RustCrypto(
                RsaPublicKey::from_public_key_der(spki).map_err(CryptoError::NotRsaKey)?,
            ),
        };
        let encryptor = PaymentEncryptor {
            certificate_id: certificate.id.clone(),
            key,
        };
        // A key that can be factored cheaply protects nothing: no card is sent under it.
        if encryptor.key_bits() < MIN_KEY_BITS {
            return Err(CryptoError::WeakKey {
                bits: encryptor.key_bits(),
            });
        }
        Ok(encryptor)
    }

    /// The modulus' length in bytes (a ciphertext's length).
    fn key_bytes(&self) -> usize {
        match &self.key {
            PublicKey::AwsLc(key) => key.key_size_bytes(),
            PublicKey::RustCrypto(key) => key.size(),
        }
    }

    fn key_bits(&self) -> usize {
        self.key_bytes().saturating_mul(8)
    }

    /// Which library encrypts under this key: `aws-lc` or `rust-crypto`.
    pub fn implementation(&self) -> &'static str {
        match self.key {
            PublicKey::AwsLc(_) => "aws-lc",
            PublicKey::RustCrypto(_) => "rust-crypto",
        }
    }

    /// The upstream id of the certificate, sent as `encryption_key`.
    pub fn certificate_id(&self) -> &str {
        &self.certificate_id
    }

    /// Salts `secret` with 16 random `[a-zA-Z0-9]` characters, encrypts it with RSA PKCS#1 v1.5
    /// and returns standard base64.
    pub fn encrypt(&self, secret: &str) -> Result<String, CryptoError> {
        // PKCS#1 v1.5 needs 11 bytes of padding; check here so the error can say why without
        // the rsa crate's message.
        let max = self.key_bytes().saturating_sub(11);
        if SALT_LEN + secret.len() > max {
            return Err(CryptoError::TooLong {
                key_bits: self.key_bits(),
            });
        }
        // Exact capacity: the buffer never reallocates, so no unzeroized copy is left behind.
        let mut plaintext = Zeroizing::new(Vec::with_capacity(SALT_LEN + secret.len()));
        push_salt(&mut plaintext)?;
        plaintext.extend_from_slice(secret.as_bytes());
        let ciphertext = match &self.key {
            PublicKey::AwsLc(key) => {
                // The padding's random bytes come from AWS-LC's own generator; the padded
                // message is its buffer, cleansed when freed.
                let mut out = vec![0u8; key.ciphertext_size()];
                let len = key
                    .encrypt(&plaintext, &mut out)
                    .map_err(|e| CryptoError::Encrypt(Box::new(e)))?
                    .len();
                out.truncate(len);
                out
            }
            PublicKey::RustCrypto(key) => key
                .encrypt(&mut OsRng, Pkcs1v15Encrypt, &plaintext)
                .map_err(|e| CryptoError::Encrypt(Box::new(e)))?,
        };
        Ok(STANDARD.encode(ciphertext))
    }

    /// Encrypts card number and CVV, each with its own salt.
    pub fn encrypt_card(
        &self,
        number: &CardNumber,
        cvv: &Cvv,
    ) -> Result<EncryptedFields, CryptoError> {
        Ok(EncryptedFields {
            number: self.encrypt(number.expose_digits())?,
            cin: self.encrypt(cvv.expose_digits())?,
            encryption_key: self.certificate_id.clone(),
        })
    }
}

/// Appends `SALT_LEN` uniformly random characters of `SALT_ALPHABET`. Rejection sampling: a
/// byte is used only if it is below 248 (= 4 × 62), so `byte % 62` has no modulo bias.
fn push_salt(out: &mut Vec<u8>) -> Result<(), CryptoError> {
    const LIMIT: u8 = (256 - 256 % SALT_ALPHABET.len()) as u8;
    let mut pool = Zeroizing::new([0u8; 32]);
    let mut added = 0;
    while added < SALT_LEN {
        OsRng
            .try_fill_bytes(pool.as_mut())
            .map_err(CryptoError::Rng)?;
        for &b in pool.iter().filter(|&&b| b < LIMIT) {
            if added == SALT_LEN {
                break;
            }
            out.push(SALT_ALPHABET[usize::from(b) % SALT_ALPHABET.len()]);
            added += 1;
        }
    }
    Ok(())
}

/// Extracts the DER body of a PEM certificate, tolerating `\r\n`, indentation, a missing line
/// structure, and literal `\r`/`\n` escapes left by a double-encoded JSON string (a backslash is
/// never base64, so removing those is safe).
fn pem_to_der(pem: &str) -> Result<Vec<u8>, CryptoError> {
    let mut body = pem;
    if let Some(start) = body.find("-----BEGIN") {
        let after = &body[start + "-----BEGIN".len()..];
        let close = after.find("-----").ok_or(CryptoError::MalformedPem)?;
        body = &after[close + "-----".len()..];
    }
    if let Some(end) = body.find("-----END") {
        body = &body[..end];
    }
    let cleaned: String = body
        .replace("\\r", "")
        .replace("\\n", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if cleaned.is_empty() {
        return Err(CryptoError::MalformedPem);
    }
    // Some producers drop the trailing '='; the DER parser catches a truncated body anyway.
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(cleaned)
        .map_err(|_| CryptoError::MalformedPem)
}

// ---------------------------------------------------------------- cache

/// The docs say the certificate "will be valid for 24 hours". If upstream refuses a key
/// earlier, the caller invalidates and fetches again.
pub const CERTIFICATE_TTL: TimeDelta = TimeDelta::hours(24);
/// A certificate is replaced this long before its 24 h are up: its validity may have started
/// before our fetch (upstream's clock, a certificate shared by many callers), and a payment
/// refused for a stale key is one the user sees.
pub const CERTIFICATE_REFRESH_MARGIN: TimeDelta = TimeDelta::hours(1);

struct Cached {
    encryptor: Arc<PaymentEncryptor>,
    fetched_at: DateTime<Utc>,
}

/// Caches the current payment encryptor. One slot behind an async mutex: a caller that finds it
/// empty or stale fetches while holding the lock, so concurrent callers wait for that one fetch
/// instead of each calling upstream (single flight). If the fetching future is dropped, the
/// lock is released and the next caller fetches.
pub struct CertificateCache {
    slot: tokio::sync::Mutex<Option<Cached>>,
    ttl: TimeDelta,
    fetches: AtomicU64,
}

impl Default for CertificateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CertificateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCache")
            .field("ttl", &self.ttl)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

impl CertificateCache {
    pub fn new() -> Self {
        Self::with_ttl(CERTIFICATE_TTL - CERTIFICATE_REFRESH_MARGIN)
    }

    /// A cache with a different lifetime (e.g. a safety margin below 24 h).
    pub fn with_ttl(ttl: TimeDelta) -> Self {
        CertificateCache {
            slot: tokio::sync::Mutex::new(None),
            ttl,
            fetches: AtomicU64::new(0),
        }
    }

    /// The cached encryptor if it was fetched within the TTL before `now`, else the result of
    /// `fetch` (which is then cached from `now`). A `now` earlier than the fetch time (clock
    /// stepped back) counts as stale: one extra fetch is cheaper than trusting a bad clock.
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        now: DateTime<Utc>,
        fetch: F,
    ) -> Result<Arc<PaymentEncryptor>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<wire::Certificate, E>>,
        E: From<CryptoError>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref() {
            let age = now - cached.fetched_at;
            if age >= TimeDelta::zero() && age < self.ttl {
                return Ok(Arc::clone(&cached.encryptor));
            }
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let certificate = fetch().await?;
        let encryptor = Arc::new(PaymentEncryptor::from_certificate(&certificate)?);
        *slot = Some(Cached {
            encryptor: Arc::clone(&encryptor),
            fetched_at: now,
        });
        Ok(encryptor)
    }

    /// Drops the cached encryptor if it is for `certificate_id` (upstream refused that key).
    /// A different id means another caller already replaced it, so it is kept. Returns whether
    /// an entry was dropped.
    pub async fn invalidate(&self, certificate_id: &str) -> bool {
        let mut slot = self.slot.lock().await;
        let matches = slot
            .as_ref()
            .is_some_and(|c| c.encryptor.certificate_id() == certificate_id);
        if matches {
            *slot = None;
        }
        matches
    }

    /// How many times `fetch` has been called: for metrics and tests.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
