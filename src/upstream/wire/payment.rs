//! Paying into a cart: the certificate that encrypts the card (`GET /certificate`) and the
//! payment itself (`PUT /cart/payment`), which carries only ciphertext of the card fields.

use serde::{Deserialize, Serialize};

use super::Abbrev;
use crate::upstream::de;

/// `GET /certificate` response. `value` is a PEM that may use `\r\n` line ends.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    #[serde(deserialize_with = "de::id")]
    pub id: String,
    pub value: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// `PUT /cart/payment` body. Only ciphertext of the card fields ever exists in this type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentRequest {
    pub cart_id: String,
    pub payment: Payment,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Payment {
    pub first_name: String,
    pub last_name: String,
    pub home_phone: String,
    /// `CC` or `INVOICE`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub email_address: String,
    pub address: PaymentAddress,
    /// Decimal string, e.g. `"69.00"`.
    pub amount: String,
    pub card: EncryptedCard,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentAddress {
    pub line1: String,
    /// Required, but may be empty.
    pub line2: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub city: String,
    pub country: CountryRef,
    pub region: Abbrev,
    pub postal_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CountryRef {
    pub id: u16,
}

/// Card fields as sent: base64 RSA ciphertext of salt + digits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncryptedCard {
    pub number: String,
    pub cin: String,
    pub encryption_key: String,
    pub expire_month: u8,
    pub expire_year: u16,
    pub postal_code: String,
}
