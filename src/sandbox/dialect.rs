//! The dialect: one switch per point where the upstream docs are silent or ambiguous, so the
//! sandbox can act out every reading of them and clients can be tested against each.
//!
//! A [`Dialect`] holds one value per switch; its default is the most literal reading of the docs
//! (`literal`), and `opposite` sets every switch to its first other value. Switches are written
//! `name=value` (e.g. `delete_purchased=refused`), on the command line (`--dialect`), in the
//! configuration (`sandbox.dialect`), in [`super::SandboxConfig::dialect`] and at run time
//! (`POST /_sandbox/dialect`); [`SWITCHES`] lists every name and value, default first.
//!
//! This module owns the names, values and parsing only; what each switch changes is done where
//! the answer is made (`cart`, `purchase`, `payment`, `polling`, `oauth`, `gate`, `faults`,
//! `reshape`), always reading the dialect from the sandbox's state, so a change at run time
//! applies to the next call.

use std::fmt;

/// Defines a switch's enum: its values in order (the first is the default), their names, and
/// parsing from a name.
macro_rules! switch {
    (
        $(#[$meta:meta])*
        $Enum:ident {
            $(#[$first_meta:meta])* $First:ident = $first:literal,
            $(#[$second_meta:meta])* $Second:ident = $second:literal
            $(, $(#[$rest_meta:meta])* $Rest:ident = $rest:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $Enum {
            $(#[$first_meta])*
            #[default]
            $First,
            $(#[$second_meta])*
            $Second,
            $($(#[$rest_meta])* $Rest,)*
        }

        impl $Enum {
            /// Every value's name, the default first.
            pub const VALUES: &'static [&'static str] = &[$first, $second $(, $rest)*];

            pub fn name(self) -> &'static str {
                match self {
                    Self::$First => $first,
                    Self::$Second => $second,
                    $(Self::$Rest => $rest,)*
                }
            }

            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $first => Some(Self::$First),
                    $second => Some(Self::$Second),
                    $($rest => Some(Self::$Rest),)*
                    _ => None,
                }
            }

            /// The first value that is not the default (the `opposite` preset).
            fn opposite() -> Self {
                Self::$Second
            }
        }
    };
}

switch! {
    /// What `DELETE /cart` of a purchased cart answers. The order always stays made.
    DeletePurchased {
        /// 204, the only answer the docs document for DELETE.
        NoContent = "no_content",
        /// 400 code 10002 "Cart already purchased".
        Refused = "refused",
        /// 404 code 10002, as for a cart that does not exist.
        NotFound = "not_found",
    }
}

switch! {
    /// What `DELETE /cart` of a cart that expired or never existed answers.
    DeleteUnknown {
        /// 404 code 10002.
        NotFound = "not_found",
        /// 400 code 10002.
        Refused = "refused",
        /// 204: deleting is idempotent.
        NoContent = "no_content",
    }
}

switch! {
    /// Which orders `GET /orders/unredeemed?days_from_purchase=N` lists.
    DaysFromPurchase {
        /// Purchased within the last N days (`purchased_at > now - N days`; N=0 lists none).
        Within = "within",
        /// Purchased at least N days ago (`purchased_at <= now - N days`; N=0 lists all).
        AtLeast = "at_least",
    }
}

switch! {
    /// Which orders `GET /orders/unredeemed?days_before_event=N` lists.
    DaysBeforeEvent {
        /// The event starts between now and now + N days.
        Within = "within",
        /// The event starts at least N days from now.
        AtLeast = "at_least",
    }
}

switch! {
    /// The status of a final poll whose operation failed (e.g. sold out, payment refused).
    PollErrors {
        /// 202 with the error body: the docs' Poll section answers 202 with "originally
        /// requested response".
        In202 = "in_202",
        /// The error's own status (400, 403, ...).
        OwnStatus = "own_status",
    }
}

switch! {
    /// Whether the state-changing calls the docs mark "Polling: No" (`POST /cart`,
    /// `PUT /cart/payment`) poll when polling is forced.
    UnmarkedPolling {
        /// Never: they always answer at once.
        Never = "never",
        /// When polling is forced (header or `force_polling`): the FAQ says "All transactional
        /// api's at TM have polling".
        WhenForced = "when_forced",
    }
}

switch! {
    /// The JSON type of the access token reply's `expires_in` and `issued_at`.
    ExpiresIn {
        /// Strings, as the docs show (`"3599"`).
        Text = "string",
        /// Numbers (`3599`).
        Number = "number",
    }
}

switch! {
    /// The JSON type of a cart's `hold_time`.
    HoldTime {
        /// A number, as the docs show (`299`).
        Number = "number",
        /// A string (`"299"`).
        Text = "string",
    }
}

switch! {
    /// `purchase_email_address` in each unredeemed order.
    UnredeemedEmail {
        /// The address given with the payment.
        Present = "present",
        /// `null`.
        Null = "null",
        /// Left out.
        Absent = "absent",
    }
}

switch! {
    /// The event's `venue.location.address.region`.
    EventRegion {
        Present = "present",
        /// Left out (venues outside the US and Canada often have none).
        Absent = "absent",
    }
}

switch! {
    /// What `PUT /cart/payment` answers when `card.encryption_key` is not the id of the
    /// certificate the sandbox issues now (e.g. after a rotation).
    StaleCertificate {
        /// 400 code 10002 "Invalid encryption key".
        InvalidKey = "invalid_key",
        /// 400 code 20122 "Payment Not Accepted".
        PaymentDeclined = "payment_declined",
    }
}

switch! {
    /// The RSA key of the payment certificate `GET /certificate` issues. The docs' example
    /// certificate is 891 bytes of DER (`MIIDdzCC…`): with its two names, validity and a
    /// 1024-bit signature, what is left for the key and extensions (269 bytes) holds a
    /// 1024-bit key's 162 and not a 2048-bit key's 294. A change at run time takes effect at
    /// the next `GET /certificate`, as a rotation (the previous id is refused).
    CertificateKey {
        /// RSA-1024, as the docs' example.
        Rsa1024 = "rsa1024",
        /// RSA-2048, as a certificate made today would be.
        Rsa2048 = "rsa2048",
    }
}

impl CertificateKey {
    /// The key's modulus length in bits.
    pub fn bits(self) -> usize {
        match self {
            Self::Rsa1024 => 1024,
            Self::Rsa2048 => 2048,
        }
    }
}

switch! {
    /// The body of an injected 5xx fault.
    ServerErrors {
        /// The docs' JSON error body.
        Json = "json",
        /// An HTML page (`text/html`), as a load balancer in front of upstream sends it.
        Html = "html",
    }
}

switch! {
    /// The quota headers on every answer when the sandbox enforces a quota.
    QuotaHeaders {
        /// `Rate-Limit`, `Rate-Limit-Available`, `Rate-Limit-Over`, `Rate-Limit-Reset`.
        RateLimit = "rate_limit",
        /// `Ratelimit-Quota-Limit`, `Ratelimit-Quota-Remaining`, `Ratelimit-Quota-Reset`.
        RatelimitQuota = "ratelimit_quota",
        /// None at all (429s still come, with no reset time).
        Omitted = "none",
    }
}

switch! {
    /// What the captcha page says about caching it.
    CaptchaCache {
        /// No `Cache-Control` header, as the docs show the answer.
        Absent = "absent",
        /// `Cache-Control: max-age=300`.
        MaxAge = "max_age",
        /// `Cache-Control: no-store`.
        NoStore = "no_store",
    }
}

/// Defines [`Dialect`], [`SWITCHES`] and the per-switch code of `set`, `switches` and the
/// `opposite` preset from one list of `field: Enum`.
macro_rules! dialect {
    ($($(#[$meta:meta])* $field:ident: $Enum:ident,)+) => {
        /// One value per switch; `Default` is the most literal reading of the docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct Dialect {
            $($(#[$meta])* pub $field: $Enum,)+
        }

        /// Every switch's name and values, the default value first.
        pub const SWITCHES: &[(&str, &[&str])] = &[$((stringify!($field), $Enum::VALUES),)+];

        impl Dialect {
            /// Every switch at its first non-default value.
            pub fn opposite() -> Self {
                Self {
                    $($field: $Enum::opposite(),)+
                }
            }

            /// Sets one switch from its `name` and `value`.
            fn set_parts(&mut self, name: &str, value: &str) -> Result<(), DialectError> {
                match name {
                    $(stringify!($field) => {
                        self.$field = $Enum::from_name(value).ok_or_else(|| {
                            DialectError::UnknownValue {
                                switch: stringify!($field),
                                value: value.to_owned(),
                                values: $Enum::VALUES,
                            }
                        })?;
                    })+
                    _ => return Err(DialectError::UnknownSwitch(name.to_owned())),
                }
                Ok(())
            }

            /// Every switch as `name=value`, in the order of [`SWITCHES`].
            pub fn switches(&self) -> Vec<String> {
                vec![$(format!("{}={}", stringify!($field), self.$field.name()),)+]
            }
        }
    };
}

dialect! {
    delete_purchased: DeletePurchased,
    delete_unknown: DeleteUnknown,
    days_from_purchase: DaysFromPurchase,
    days_before_event: DaysBeforeEvent,
    poll_errors: PollErrors,
    unmarked_polling: UnmarkedPolling,
    expires_in: ExpiresIn,
    hold_time: HoldTime,
    unredeemed_email: UnredeemedEmail,
    event_region: EventRegion,
    stale_certificate: StaleCertificate,
    certificate_key: CertificateKey,
    server_errors: ServerErrors,
    quota_headers: QuotaHeaders,
    captcha_cache: CaptchaCache,
}

/// The preset words [`Dialect::parse`] accepts besides `name=value`.
pub const PRESETS: &[&str] = &["literal", "opposite"];

/// Why a switch was refused; the message names what would have been valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    #[error("expected name=value (e.g. delete_purchased=refused) or a preset ({presets}); got {0:?}", presets = PRESETS.join(", "))]
    Shape(String),
    #[error("unknown dialect switch {0:?} (one of: {names})", names = switch_names())]
    UnknownSwitch(String),
    #[error("unknown value {value:?} for {switch} (one of: {values})", values = .values.join(", "))]
    UnknownValue {
        switch: &'static str,
        value: String,
        values: &'static [&'static str],
    },
}

fn switch_names() -> String {
    SWITCHES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Dialect {
    /// Sets one switch from `name=value`, e.g. `delete_purchased=refused`.
    pub fn set(&mut self, switch: &str) -> Result<(), DialectError> {
        let (name, value) = switch
            .split_once('=')
            .ok_or_else(|| DialectError::Shape(switch.to_owned()))?;
        self.set_parts(name.trim(), value.trim())
    }

    /// Applies `switches` in order, each `name=value` or a preset (`literal`: every default;
    /// `opposite`: every switch at its first non-default value). All or nothing: on an error
    /// `self` is unchanged.
    pub fn apply(&mut self, switches: &[impl AsRef<str>]) -> Result<(), DialectError> {
        let mut next = *self;
        for switch in switches {
            match switch.as_ref().trim() {
                "literal" => next = Self::default(),
                "opposite" => next = Self::opposite(),
                other => next.set(other)?,
            }
        }
        *self = next;
        Ok(())
    }

    /// The default dialect with `switches` applied (see [`Self::apply`]).
    pub fn parse(switches: &[impl AsRef<str>]) -> Result<Self, DialectError> {
        let mut dialect = Self::default();
        dialect.apply(switches)?;
        Ok(dialect)
    }
}

/// `name=value,name=value,...`, every switch.
impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.switches().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_first_value_of_every_switch() {
        let expected: Vec<String> = SWITCHES
            .iter()
            .map(|(name, values)| format!("{name}={}", values[0]))
            .collect();
        assert_eq!(Dialect::default().switches(), expected);
        assert_eq!(Dialect::parse(&["literal"]), Ok(Dialect::default()));
        assert_eq!(Dialect::parse(&[] as &[&str]), Ok(Dialect::default()));
    }

    #[test]
    fn opposite_is_the_second_value_of_every_switch() {
        let expected: Vec<String> = SWITCHES
            .iter()
            .map(|(name, values)| format!("{name}={}", values[1]))
            .collect();
        assert_eq!(Dialect::opposite().switches(), expected);
        assert_eq!(Dialect::parse(&["opposite"]), Ok(Dialect::opposite()));
        assert_ne!(Dialect::opposite(), Dialect::default());
    }

    #[test]
    fn every_value_of_every_switch_parses_and_round_trips() {
        for (name, values) in SWITCHES {
            assert!(values.len() >= 2, "{name}");
            for value in *values {
                let switch = format!("{name}={value}");
                let dialect = Dialect::parse(&[&switch]).expect(&switch);
                assert!(dialect.switches().contains(&switch), "{switch}");
                assert_eq!(Dialect::parse(&dialect.switches()), Ok(dialect));
            }
        }
        let mixed = Dialect::parse(&["opposite", "poll_errors=in_202", "quota_headers=none"])
            .expect("valid switches");
        assert_eq!(mixed.poll_errors, PollErrors::In202);
        assert_eq!(mixed.quota_headers, QuotaHeaders::Omitted);
        assert_eq!(mixed.delete_purchased, DeletePurchased::Refused);
        assert_eq!(Dialect::parse(&mixed.switches()), Ok(mixed));
        let joined = mixed.to_string();
        assert_eq!(
            Dialect::parse(&joined.split(',').collect::<Vec<_>>()),
            Ok(mixed)
        );
    }

    #[test]
    fn switches_apply_in_order_and_presets_reset() {
        let d = Dialect::parse(&["delete_purchased=refused", "delete_purchased=not_found"]);
        assert_eq!(d.map(|d| d.delete_purchased), Ok(DeletePurchased::NotFound));
        let d = Dialect::parse(&["hold_time=string", "literal", " expires_in = number "]);
        assert_eq!(
            d,
            Ok(Dialect {
                expires_in: ExpiresIn::Number,
                ..Dialect::default()
            })
        );
        let mut d = Dialect::default();
        d.set("server_errors=html").expect("valid");
        assert_eq!(d.server_errors, ServerErrors::Html);
    }

    #[test]
    fn unknown_names_and_values_are_refused_naming_the_valid_ones() {
        let e = Dialect::parse(&["delete_bought=refused"]).unwrap_err();
        assert_eq!(e, DialectError::UnknownSwitch("delete_bought".into()));
        let message = e.to_string();
        assert!(message.contains("delete_purchased") && message.contains("quota_headers"));

        let e = Dialect::parse(&["delete_purchased=gone"]).unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains("delete_purchased")
                && message.contains("no_content, refused, not_found"),
            "{message}"
        );

        let e = Dialect::parse(&["delete_purchased"]).unwrap_err();
        assert!(matches!(e, DialectError::Shape(_)));
        assert!(e.to_string().contains("literal, opposite"));

        // All or nothing.
        let mut d = Dialect::default();
        assert!(d.apply(&["hold_time=string", "nope=1"]).is_err());
        assert_eq!(d, Dialect::default());
    }
}
