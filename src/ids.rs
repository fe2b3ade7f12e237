//! Typed, prefixed identifiers the gateway issues (`chk_…`, `ord_…`).
//!
//! Upstream `cart_id`s and `order_token`s never appear in partner-facing URLs; these ids do.
//! Parsing checks the prefix and the UUID body, so a malformed id is a 404, never a query.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The id failed to parse: wrong prefix or a body that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id; UUIDv7 so ids sort by creation time.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", Self::PREFIX, self.0.simple())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.strip_prefix(Self::PREFIX)
                    .and_then(|body| Uuid::try_parse(body).ok())
                    .map(Self)
                    .ok_or(InvalidId { kind: $kind })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A checkout: one user's attempt to buy tickets for one event.
    CheckoutId, "chk_", "checkout"
);
prefixed_id!(
    /// An order the gateway recorded after a successful purchase.
    OrderId, "ord_", "order"
);
prefixed_id!(
    /// One run of a scheduled job (scheduled or started by hand).
    RunId, "run_", "run"
);
prefixed_id!(
    /// A webhook message; also its `webhook-id`, which receivers deduplicate by.
    DeliveryId, "msg_", "webhook delivery"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_display_and_parse() {
        let id = CheckoutId::new();
        let text = id.to_string();
        assert!(text.starts_with("chk_"));
        assert_eq!(text.parse::<CheckoutId>(), Ok(id));
    }

    #[test]
    fn rejects_the_wrong_prefix_and_garbage() {
        let order = OrderId::new().to_string();
        assert!(order.parse::<CheckoutId>().is_err());
        assert!("chk_nope".parse::<CheckoutId>().is_err());
        assert!("".parse::<OrderId>().is_err());
    }
}
