//! Tests for `payment_crypto`: round trips against a private key (in Rust and through the
//! `openssl` CLI, an independent PKCS#1 v1.5 implementation), certificate shapes, and the cache.

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::AtomicUsize;

use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;

use super::*;

const TEST_CARD: &str = "4588883206000011";
const TEST_CVV: &str = "123";

struct Fixture {
    private_key: RsaPrivateKey,
    /// PKCS#8 PEM of the private key, for openssl.
    private_key_pem: String,
    /// Self-signed certificate PEM with `\n` line ends, as rcgen writes it.
    cert_pem: String,
}

/// One RSA-2048 key and certificate for the whole test binary. The key comes from rcgen's
/// aws-lc backend (fast even in debug builds, unlike pure-Rust key generation) and is read back
/// into an `rsa::RsaPrivateKey` from its PKCS#8 DER for decryption.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        let private_key =
            RsaPrivateKey::from_pkcs8_der(&key_pair.serialize_der()).expect("pkcs8 der");
        let params =
            rcgen::CertificateParams::new(vec!["paysys-test.invalid".to_owned()]).expect("params");
        let cert = params.self_signed(&key_pair).expect("self-signed");
        Fixture {
            private_key,
            private_key_pem: key_pair.serialize_pem(),
            cert_pem: cert.pem(),
        }
    })
}

fn crlf(pem: &str) -> String {
    pem.lines().map(|l| format!("{l}\r\n")).collect()
}

fn certificate(id: &str) -> wire::Certificate {
    wire::Certificate {
        id: id.to_owned(),
        value: crlf(&fixture().cert_pem),
    }
}

fn decrypt(b64: &str) -> String {
    let ciphertext = STANDARD.decode(b64).expect("standard base64");
    let plaintext = fixture()
        .private_key
        .decrypt(Pkcs1v15Encrypt, &ciphertext)
        .expect("decrypts");
    String::from_utf8(plaintext).expect("ascii")
}

/// Splits a decrypted value into salt and secret, checking the salt's shape.
fn unsalt(plaintext: &str) -> &str {
    assert!(
        plaintext.len() > SALT_LEN,
        "too short: {} bytes",
        plaintext.len()
    );
    let (salt, secret) = plaintext.split_at(SALT_LEN);
    assert!(
        salt.bytes().all(|b| b.is_ascii_alphanumeric()),
        "salt must be [a-zA-Z0-9]: {salt:?}"
    );
    secret
}

// ---------------------------------------------------------------- encryption

#[test]
fn round_trip_card_and_cvv() {
    let encryptor = PaymentEncryptor::from_certificate(&certificate("paysys-dev.0.us.3"))
        .expect("certificate with \\r\\n parses");
    assert_eq!(encryptor.certificate_id(), "paysys-dev.0.us.3");

    let number = CardNumber::parse(TEST_CARD).expect("card");
    let cvv = Cvv::parse(TEST_CVV).expect("cvv");
    let fields = encryptor.encrypt_card(&number, &cvv).expect("encrypts");
    assert_eq!(fields.encryption_key, "paysys-dev.0.us.3");
    assert_eq!(unsalt(&decrypt(&fields.number)), TEST_CARD);
    assert_eq!(unsalt(&decrypt(&fields.cin)), TEST_CVV);
    // 2048-bit key → 256-byte ciphertext → 344 base64 characters.
    assert_eq!(fields.number.len(), 344);

    // Random salt (and random padding): the same input never encrypts the same way twice.
    let again = encryptor.encrypt_card(&number, &cvv).expect("encrypts");
    assert_ne!(again.number, fields.number);
    assert_ne!(again.cin, fields.cin);
    let (p1, p2) = (decrypt(&fields.number), decrypt(&again.number));
    assert_ne!(&p1[..SALT_LEN], &p2[..SALT_LEN], "salts differ");

    let wire = fields.into_wire(12, 2020, "90210".to_owned());
    assert_eq!(wire.encryption_key, "paysys-dev.0.us.3");
    assert_eq!((wire.expire_month, wire.expire_year), (12, 2020));
}

#[test]
fn salt_uses_the_whole_alphabet() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let mut salt = Vec::new();
        push_salt(&mut salt).expect("rng");
        assert_eq!(salt.len(), SALT_LEN);
        assert!(salt.iter().all(|b| SALT_ALPHABET.contains(b)));
        seen.extend(salt);
    }
    // 3200 draws over 62 symbols: missing one by chance has probability ~ 62·e^-51.
    assert_eq!(seen.len(), SALT_ALPHABET.len());
}

/// The `openssl` CLI, or `None` (with a notice that `test` is skipped) when this machine has
/// none.
fn openssl(test: &str) -> Option<&'static std::path::Path> {
    let openssl = std::path::Path::new("/usr/bin/openssl");
    if !openssl.exists() {
        println!("NOTICE: /usr/bin/openssl not found; skipping {test}");
        return None;
    }
    Some(openssl)
}

/// `ciphertext` decrypted by the `openssl` CLI under `key_pem`, or `None` when this machine
/// has no `/usr/bin/openssl`.
fn openssl_decrypt(key_pem: &str, ciphertext: &[u8]) -> Option<String> {
    let openssl = openssl("the openssl interop test")?;
    let dir = temp_dir("decrypt");
    let key_path = dir.join("key.pem");
    let ct_path = dir.join("ciphertext.bin");
    std::fs::write(&key_path, key_pem).expect("write key");
    std::fs::write(&ct_path, ciphertext).expect("write ciphertext");
    let output = Command::new(openssl)
        .arg("pkeyutl")
        .arg("-decrypt")
        .arg("-inkey")
        .arg(&key_path)
        .args(["-pkeyopt", "rsa_padding_mode:pkcs1", "-in"])
        .arg(&ct_path)
        .output()
        .expect("run openssl");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("ascii"))
}

fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "payment-crypto-{what}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn openssl_decrypts_what_we_encrypt() {
    let encryptor = PaymentEncryptor::from_certificate(&certificate("c1")).expect("parses");
    assert_eq!(encryptor.implementation(), "aws-lc");
    let ciphertext = STANDARD
        .decode(encryptor.encrypt(TEST_CARD).expect("encrypts"))
        .expect("base64");
    if let Some(plaintext) = openssl_decrypt(&fixture().private_key_pem, &ciphertext) {
        assert_eq!(unsalt(&plaintext), TEST_CARD);
    }
}

/// The docs' example certificate holds a 1024-bit key, below what AWS-LC accepts: such a key
/// is encrypted under by RustCrypto, and what it makes decrypts the same way.
/// A self-signed certificate with a new `bits`-bit RSA key made by `openssl` (its key's and
/// certificate's PEM), or `None` where `openssl` is missing.
fn openssl_certificate(bits: usize) -> Option<(String, wire::Certificate)> {
    let openssl = openssl(&format!("the {bits}-bit key test"))?;
    let dir = temp_dir(&format!("rsa{bits}"));
    let (key_path, cert_path) = (dir.join("key.pem"), dir.join("cert.pem"));
    let made = Command::new(openssl)
        .args(["req", "-x509", "-newkey"])
        .arg(format!("rsa:{bits}"))
        .args(["-nodes", "-days", "1"])
        .args(["-subj", "/CN=paysys-test.invalid", "-keyout"])
        .arg(&key_path)
        .arg("-out")
        .arg(&cert_path)
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key_pem = std::fs::read_to_string(&key_path).expect("key");
    let cert_pem = std::fs::read_to_string(&cert_path).expect("cert");
    let _ = std::fs::remove_dir_all(&dir);
    let certificate = wire::Certificate {
        id: format!("c{bits}"),
        value: crlf(&cert_pem),
    };
    Some((key_pem, certificate))
}

#[test]
fn a_key_too_small_to_protect_a_card_is_refused() {
    let Some((_, certificate)) = openssl_certificate(512) else {
        return;
    };
    assert!(matches!(
        PaymentEncryptor::from_certificate(&certificate),
        Err(CryptoError::WeakKey { bits: 512 })
    ));
}

#[test]
fn a_key_larger_than_4096_bits_is_encrypted_under() {
    // RustCrypto, read first, refused every key over 4096 bits.
    let Some((key_pem, certificate)) = openssl_certificate(6144) else {
        return;
    };
    let encryptor = PaymentEncryptor::from_certificate(&certificate).expect("parses");
    assert_eq!(encryptor.implementation(), "aws-lc");
    let ciphertext = STANDARD
        .decode(encryptor.encrypt(TEST_CARD).expect("encrypts"))
        .expect("base64");
    assert_eq!(ciphertext.len(), 768, "a 6144-bit key's ciphertext");
    let plaintext = openssl_decrypt(&key_pem, &ciphertext).expect("openssl is here");
    assert_eq!(unsalt(&plaintext), TEST_CARD);
}

#[test]
fn a_1024_bit_certificate_is_encrypted_under_too() {
    let Some((key_pem, certificate)) = openssl_certificate(1024) else {
        return;
    };
    let encryptor = PaymentEncryptor::from_certificate(&certificate).expect("parses");
    assert_eq!(encryptor.implementation(), "rust-crypto");
    for secret in [TEST_CARD, TEST_CVV] {
        let ciphertext = STANDARD
            .decode(encryptor.encrypt(secret).expect("encrypts"))
            .expect("base64");
        assert_eq!(ciphertext.len(), 128, "a 1024-bit key's ciphertext");
        let plaintext = openssl_decrypt(&key_pem, &ciphertext).expect("openssl is here");
        assert_eq!(unsalt(&plaintext), secret);
    }
    let longest = "9".repeat(128 - 11 - SALT_LEN);
    assert!(encryptor.encrypt(&longest).is_ok());
    assert!(matches!(
        encryptor.encrypt(&format!("{longest}9")),
        Err(CryptoError::TooLong { key_bits: 1024 })
    ));
}

#[test]
fn too_long_secret_is_refused_without_quoting_it() {
    let encryptor = PaymentEncryptor::from_certificate(&certificate("c1")).expect("parses");
    let longest = "9".repeat(256 - 11 - SALT_LEN);
    assert_eq!(
        unsalt(&decrypt(&encryptor.encrypt(&longest).expect("fits"))),
        longest
    );
    let secret = "9".repeat(256);
    let err = encryptor.encrypt(&secret).unwrap_err();
    assert!(
        matches!(err, CryptoError::TooLong { key_bits: 2048 }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("9999"));
}

// ---------------------------------------------------------------- certificate shapes

#[test]
fn docs_pem_shape_parses() {
    // The docs show the value with `\r\n` line ends and every line after the first indented.
    let body: Vec<&str> = fixture()
        .cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut value = String::from("-----BEGIN CERTIFICATE-----\r\n");
    for line in body {
        value.push_str(&format!("                  {line}\r\n"));
    }
    value.push_str("                  -----END CERTIFICATE-----\r\n");
    let cert = wire::Certificate {
        id: "paysys-dev.0.us.3".to_owned(),
        value,
    };
    let encryptor = PaymentEncryptor::from_certificate(&cert).expect("docs shape parses");
    assert_eq!(
        unsalt(&decrypt(&encryptor.encrypt(TEST_CVV).expect("encrypts"))),
        TEST_CVV
    );
}

#[test]
fn other_pem_layouts_parse() {
    let pem = &fixture().cert_pem;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    // One line, no breaks; bare base64 without markers; literal "\r\n" escapes.
    let one_line = format!("-----BEGIN CERTIFICATE-----{body}-----END CERTIFICATE-----");
    let escaped = pem.replace('\n', "\\r\\n");
    for value in [one_line, body.clone(), escaped] {
        let cert = wire::Certificate {
            id: "c".to_owned(),
            value,
        };
        PaymentEncryptor::from_certificate(&cert).expect("parses");
    }
}

#[test]
fn garbage_is_refused() {
    let cases = [
        ("", "empty"),
        (
            "-----BEGIN CERTIFICATE-----\r\n-----END CERTIFICATE-----",
            "no body",
        ),
        (
            "-----BEGIN CERTIFICATE-----\r\n%%%not base64%%%\r\n-----END CERTIFICATE-----",
            "bad b64",
        ),
        (
            "-----BEGIN CERTIFICATE-----\r\naGVsbG8gd29ybGQ=\r\n-----END CERTIFICATE-----",
            "not DER",
        ),
        ("-----BEGIN CERT", "unterminated marker"),
    ];
    for (value, why) in cases {
        let cert = wire::Certificate {
            id: "c".to_owned(),
            value: value.to_owned(),
        };
        assert!(PaymentEncryptor::from_certificate(&cert).is_err(), "{why}");
    }
    // The docs' sample certificate is truncated (an excerpt): it must fail cleanly.
    let docs_excerpt = "-----BEGIN CERTIFICATE-----\r\n\
        MIIDdzCCAuCgAwIBAgIRAONU+AhqczriCWS/YmzJABEwDQYJKoZIhvcNAQEFBQAw\r\n\
        HTzCxxD7NVUZSAXyt2YEUePoFj4FS3RhmbnX\r\n\
        -----END CERTIFICATE-----\r\n";
    let cert = wire::Certificate {
        id: "paysys-dev.0.us.3".to_owned(),
        value: docs_excerpt.to_owned(),
    };
    assert!(matches!(
        PaymentEncryptor::from_certificate(&cert),
        Err(CryptoError::InvalidCertificate(_))
    ));
}

#[test]
fn non_rsa_certificate_is_refused() {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec key");
    let cert = rcgen::CertificateParams::new(vec!["ec.invalid".to_owned()])
        .expect("params")
        .self_signed(&key_pair)
        .expect("self-signed");
    let cert = wire::Certificate {
        id: "ec".to_owned(),
        value: cert.pem(),
    };
    assert!(matches!(
        PaymentEncryptor::from_certificate(&cert),
        Err(CryptoError::NotRsaKey(_))
    ));
}

// ---------------------------------------------------------------- cache

#[derive(Debug)]
enum TestError {
    Crypto(#[allow(dead_code)] CryptoError),
    Upstream,
}

impl From<CryptoError> for TestError {
    fn from(e: CryptoError) -> Self {
        TestError::Crypto(e)
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("2026-01-01")
}

async fn fetch_ok(id: &str) -> Result<wire::Certificate, TestError> {
    Ok(certificate(id))
}

#[tokio::test]
async fn cache_reuses_within_ttl_and_refetches_after() {
    let cache = CertificateCache::new();
    let a = cache
        .get_or_fetch(t0(), || fetch_ok("c1"))
        .await
        .expect("first");
    assert_eq!(cache.fetch_count(), 1);

    // Replaced an hour before the docs' 24 h are up.
    let later = t0() + TimeDelta::hours(22) + TimeDelta::minutes(59);
    let b = cache
        .get_or_fetch(later, || fetch_ok("c2"))
        .await
        .expect("cached");
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(b.certificate_id(), "c1");
    assert_eq!(cache.fetch_count(), 1);

    let expired = t0() + TimeDelta::hours(23);
    let c = cache
        .get_or_fetch(expired, || fetch_ok("c2"))
        .await
        .expect("refetched");
    assert_eq!(c.certificate_id(), "c2");
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test]
async fn invalidate_forces_a_fetch_only_for_the_cached_id() {
    let cache = CertificateCache::new();
    cache
        .get_or_fetch(t0(), || fetch_ok("c1"))
        .await
        .expect("first");

    // A refusal of some older key must not throw away the current one.
    assert!(!cache.invalidate("c0").await);
    cache
        .get_or_fetch(t0(), || fetch_ok("c2"))
        .await
        .expect("cached");
    assert_eq!(cache.fetch_count(), 1);

    assert!(cache.invalidate("c1").await);
    let e = cache
        .get_or_fetch(t0(), || fetch_ok("c2"))
        .await
        .expect("refetched");
    assert_eq!(e.certificate_id(), "c2");
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test]
async fn fetch_errors_propagate_and_are_not_cached() {
    let cache = CertificateCache::new();
    let err = cache
        .get_or_fetch(t0(), || async {
            Err::<wire::Certificate, _>(TestError::Upstream)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, TestError::Upstream));

    let bad = || async {
        Ok::<_, TestError>(wire::Certificate {
            id: "bad".to_owned(),
            value: "garbage".to_owned(),
        })
    };
    let err = cache.get_or_fetch(t0(), bad).await.unwrap_err();
    assert!(matches!(err, TestError::Crypto(_)));

    cache
        .get_or_fetch(t0(), || fetch_ok("c1"))
        .await
        .expect("recovers");
    assert_eq!(cache.fetch_count(), 3);
}

#[tokio::test]
async fn clock_stepping_back_counts_as_stale() {
    let cache = CertificateCache::new();
    cache
        .get_or_fetch(t0(), || fetch_ok("c1"))
        .await
        .expect("first");
    let before = t0() - TimeDelta::minutes(5);
    cache
        .get_or_fetch(before, || fetch_ok("c2"))
        .await
        .expect("refetched");
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gets_fetch_once() {
    let cache = Arc::new(CertificateCache::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();

    // The first caller's fetch blocks until released, so every other caller arrives while it
    // is in flight.
    let first = {
        let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
        tokio::spawn(async move {
            cache
                .get_or_fetch(t0(), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let _ = started_tx.send(());
                    let _ = release_rx.await;
                    fetch_ok("c1").await
                })
                .await
        })
    };
    started_rx.await.expect("fetch started");

    let others: Vec<_> = (0..16)
        .map(|_| {
            let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
            tokio::spawn(async move {
                cache
                    .get_or_fetch(t0(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        fetch_ok("c-other").await
                    })
                    .await
            })
        })
        .collect();
    // Let the others reach the lock before the fetch completes.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    release_tx.send(()).expect("release");

    let first = first.await.expect("join").expect("first get");
    for handle in others {
        let got = handle.await.expect("join").expect("get");
        assert!(Arc::ptr_eq(&got, &first));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.fetch_count(), 1);
}

#[test]
fn debug_output_is_safe() {
    let encryptor = PaymentEncryptor::from_certificate(&certificate("c1")).expect("parses");
    let dbg = format!("{encryptor:?}");
    assert!(dbg.contains("c1") && dbg.contains("2048"), "{dbg}");
    let err = CryptoError::MalformedPem;
    assert!(!err.to_string().contains(TEST_CARD));
}
