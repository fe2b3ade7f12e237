//! Card input newtypes: the card number, CVV and expiry as the partner sends them, parsed once
//! at the edge so the rest of the gateway can only hold valid values.
//!
//! Card number and CVV are secrets (PCI DSS): they live in [`SecretString`]s that are zeroized
//! on drop, have no `Display` or `Serialize`, print redacted in `Debug`, and no error built here
//! quotes the input. The only way to read the digits is [`CardNumber::expose_digits`] /
//! [`Cvv::expose_digits`], which exist for `payment_crypto` and nothing else. What the gateway
//! may keep about a card is [`CardNumber::last4`] and [`CardNumber::brand`].

use std::fmt;
use std::marker::PhantomData;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Why a card field was refused. Messages describe the rule, never the input, so they are safe
/// to log and to return to the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("must contain only digits")]
    NotDigits,
    #[error("must have {min} to {max} digits")]
    BadLength { min: usize, max: usize },
    #[error("is not a valid card number (checksum failed)")]
    BadChecksum,
    #[error("must be a month from 1 to 12")]
    BadMonth,
    #[error("must be a four-digit year from 2000 to 2099")]
    BadYear,
    #[error("must be a string of digits")]
    NotAString,
}

// ---------------------------------------------------------------- card number

/// Card networks, recognised from the number's prefix (IIN ranges). Not secret: kept on the
/// checkout and shown to the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    Unknown,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::Diners => "diners",
            CardBrand::Unknown => "unknown",
        }
    }

    /// Classifies by prefix. `digits` must be all ASCII digits (guaranteed by `CardNumber`).
    fn from_digits(digits: &str) -> Self {
        // A prefix of `n` digits as a number; `None` when the number is shorter (cannot happen
        // for a parsed card number, which has at least 12 digits).
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        let in_range =
            |n: usize, lo: u32, hi: u32| prefix(n).is_some_and(|p| (lo..=hi).contains(&p));

        if in_range(2, 34, 34) || in_range(2, 37, 37) {
            CardBrand::Amex
        } else if in_range(3, 300, 305) || in_range(2, 36, 36) || in_range(2, 38, 38) {
            CardBrand::Diners
        } else if in_range(4, 3528, 3589) {
            CardBrand::Jcb
        } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
            CardBrand::Mastercard
        } else if in_range(4, 6011, 6011) || in_range(2, 65, 65) || in_range(3, 644, 649) {
            CardBrand::Discover
        } else if in_range(1, 4, 4) {
            CardBrand::Visa
        } else {
            CardBrand::Unknown
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A primary account number: 12–19 digits, Luhn-valid. Holds the digits only (separators
/// stripped) in a zeroizing secret.
pub struct CardNumber(SecretString);

impl CardNumber {
    pub const MIN_DIGITS: usize = 12;
    pub const MAX_DIGITS: usize = 19;

    /// Parses a card number as typed: digits, optionally grouped with spaces or dashes.
    pub fn parse(input: &str) -> Result<Self, CardError> {
        // Reserve the input's length up front so the buffer never reallocates: a reallocation
        // would leave an unzeroized copy of the digits behind in freed memory.
        let mut digits = Zeroizing::new(String::with_capacity(input.len()));
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CardError::NotDigits),
            }
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(CardError::BadLength {
                min: Self::MIN_DIGITS,
                max: Self::MAX_DIGITS,
            });
        }
        if !luhn_valid(&digits) {
            return Err(CardError::BadChecksum);
        }
        // `SecretString::from(&str)` copies into an exactly-sized box; `digits` is zeroized
        // when it drops at the end of this function.
        Ok(CardNumber(SecretString::from(digits.as_str())))
    }

    /// The last four digits: what the gateway may store and show.
    pub fn last4(&self) -> String {
        let digits = self.0.expose_secret();
        // At least 12 ASCII digits, so this slice is always in bounds and on a char boundary.
        digits[digits.len() - 4..].to_owned()
    }

    pub fn brand(&self) -> CardBrand {
        CardBrand::from_digits(self.0.expose_secret())
    }

    /// The bare digits. Only for `payment_crypto`, which encrypts them; never log, store or
    /// return the result.
    pub fn expose_digits(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(****{})", self.last4())
    }
}

/// Whether `digits` (ASCII digits only) could be a card number: 13–19 of them, Luhn-valid.
/// The one rule the log redactor and [`contains_grouped_card_number`] judge runs by.
pub(crate) fn is_card_number(digits: &str) -> bool {
    NUMBER_DIGITS.contains(&digits.len()) && luhn_valid(digits)
}

/// How many digits a card number judged by [`is_card_number`] has.
pub(crate) const NUMBER_DIGITS: std::ops::Range<usize> = 13..20;

/// Luhn (mod 10) check over ASCII digits (also how the log redactor spots card numbers).
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether `text` holds a card number written in groups, as people and the hosted page's
/// script write them (`4111 1111 1111 1111`, `4111-1111-…`): groups of digits joined by one
/// space or dash whose digits, over any run of whole groups, are 13–19 long and pass Luhn.
/// The log redaction masks only an unbroken run (its fast path looks for 13 digits in a
/// row): what a client chooses and the logs keep whole (its request id, its request's path)
/// is checked with this, and so is the free text of a billing address.
pub fn contains_grouped_card_number(text: &str) -> bool {
    let mut groups: Vec<&str> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let judge = |groups: &[&str]| {
        (0..groups.len()).any(|from| {
            let mut digits = String::new();
            groups[from..].iter().any(|g| {
                digits.push_str(g);
                is_card_number(&digits)
            })
        })
    };
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        groups.push(&text[start..i]);
        // One space or dash, or a space as a URL or form writes it (`%20`, `+`).
        let separator = [&b" "[..], b"-", b"+", b"%20"]
            .into_iter()
            .find(|sep| bytes[i..].starts_with(sep))
            .map_or(0, <[u8]>::len);
        let joined = separator > 0 && bytes.get(i + separator).is_some_and(u8::is_ascii_digit);
        if joined {
            i += separator;
        } else {
            if judge(&groups) {
                return true;
            }
            groups.clear();
        }
    }
    false
}

// ---------------------------------------------------------------- cvv

/// Card verification value: 3 digits (4 for Amex).
pub struct Cvv(SecretString);

impl Cvv {
    /// Parses 3–4 digits; surrounding whitespace is ignored, nothing else is.
    pub fn parse(input: &str) -> Result<Self, CardError> {
        let trimmed = input.trim();
        if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::NotDigits);
        }
        if !(3..=4).contains(&trimmed.len()) {
            return Err(CardError::BadLength { min: 3, max: 4 });
        }
        Ok(Cvv(SecretString::from(trimmed)))
    }

    /// The bare digits. Only for `payment_crypto`.
    pub fn expose_digits(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Cvv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvv(***)")
    }
}

// ---------------------------------------------------------------- deserialisation

/// `Deserialize` for the secret fields, so an HTTP DTO can hold `CardNumber`/`Cvv` directly and
/// the digits never sit in a plain `String`. Hand-written because the derived or `String`-based
/// paths are unsafe here: serde's default "invalid type" errors quote the offending value, so a
/// card number sent as a JSON number (`"number": 4588883206000011`) would end up in the error
/// message. So the visitor is driven with `deserialize_any` (with `deserialize_str`, serde_json
/// reports a wrong type itself, value included) and refuses every non-string input with
/// [`CardError::NotAString`].
///
/// Serde may still have copied an escaped JSON string into its own scratch buffer, which this
/// code cannot zeroize.
trait SecretField: Sized {
    const EXPECTING: &'static str;
    fn parse_field(input: &str) -> Result<Self, CardError>;
}

impl SecretField for CardNumber {
    const EXPECTING: &'static str = "a card number as a string of digits";
    fn parse_field(input: &str) -> Result<Self, CardError> {
        CardNumber::parse(input)
    }
}

impl SecretField for Cvv {
    const EXPECTING: &'static str = "a card security code as a string of digits";
    fn parse_field(input: &str) -> Result<Self, CardError> {
        Cvv::parse(input)
    }
}

struct SecretVisitor<T>(PhantomData<T>);

impl<T: SecretField> SecretVisitor<T> {
    fn refuse<E: serde::de::Error>() -> Result<T, E> {
        Err(E::custom(CardError::NotAString))
    }
}

impl<T: SecretField> serde::de::Visitor<'_> for SecretVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        T::parse_field(v).map_err(E::custom)
    }

    // Each of these would otherwise produce an error that prints the value.
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<T, E> {
        Self::refuse()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<T, E> {
        Self::refuse()
    }
    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<T, E> {
        Self::refuse()
    }
    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<T, E> {
        Self::refuse()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<T, E> {
        Self::refuse()
    }
    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<T, E> {
        Self::refuse()
    }
    fn visit_char<E: serde::de::Error>(self, _: char) -> Result<T, E> {
        Self::refuse()
    }
}

impl<'de> Deserialize<'de> for CardNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Cvv {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor(PhantomData))
    }
}

// ---------------------------------------------------------------- expiry

/// Expiry month, 1–12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct ExpiryMonth(u8);

impl ExpiryMonth {
    pub fn new(month: u8) -> Result<Self, CardError> {
        if (1..=12).contains(&month) {
            Ok(ExpiryMonth(month))
        } else {
            Err(CardError::BadMonth)
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl From<ExpiryMonth> for u8 {
    fn from(month: ExpiryMonth) -> u8 {
        month.0
    }
}

impl TryFrom<u8> for ExpiryMonth {
    type Error = CardError;
    fn try_from(month: u8) -> Result<Self, CardError> {
        Self::new(month)
    }
}

/// Expiry year, four digits (2000–2099). Past years are accepted on purpose: whether a card has
/// expired is the issuer's call, and the sandbox test card expires 12/2020.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct ExpiryYear(u16);

impl ExpiryYear {
    pub fn new(year: u16) -> Result<Self, CardError> {
        if (2000..=2099).contains(&year) {
            Ok(ExpiryYear(year))
        } else {
            Err(CardError::BadYear)
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl From<ExpiryYear> for u16 {
    fn from(year: ExpiryYear) -> u16 {
        year.0
    }
}

impl TryFrom<u16> for ExpiryYear {
    type Error = CardError;
    fn try_from(year: u16) -> Result<Self, CardError> {
        Self::new(year)
    }
}

#[cfg(test)]
mod tests;
