//! The contract's stable error codes ([`ErrorCode`]): every `code` a partner can see, with its
//! HTTP status, title, default `Retry-After`, and when it happens and what an app should do
//! ([`CodeDoc`], the one table the problem bodies, the problem type pages and the partner
//! guide are made from). Vocabulary, like the records around it: a
//! checkout's failure is stored with its code. What an upstream failure becomes is decided
//! above the upstream client, in `checkout::error` (`ErrorCode::from_upstream`).

/// Every `code` a partner can see, with its HTTP status (CONTRACT.md's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthorized,
    NotFound,
    ValidationFailed,
    CaptchaInvalid,
    EventNotTransactable,
    SoldOut,
    InvalidState,
    HoldExpired,
    PaymentDeclined,
    InvalidSecurityCode,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    MaintenanceWindow,
    RateLimited,
    UpstreamUnavailable,
    /// Not a refusal: the checkout's `error` when a purchase's outcome could not be confirmed.
    PurchaseUnconfirmed,
    /// The request body is larger than any route takes.
    PayloadTooLarge,
    /// The route exists, but not with this method.
    MethodNotAllowed,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        Self::Unauthorized,
        Self::NotFound,
        Self::ValidationFailed,
        Self::CaptchaInvalid,
        Self::EventNotTransactable,
        Self::SoldOut,
        Self::InvalidState,
        Self::HoldExpired,
        Self::PaymentDeclined,
        Self::InvalidSecurityCode,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInUse,
        Self::MaintenanceWindow,
        Self::RateLimited,
        Self::UpstreamUnavailable,
        Self::PurchaseUnconfirmed,
        Self::PayloadTooLarge,
        Self::MethodNotAllowed,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::ValidationFailed => "validation_failed",
            Self::CaptchaInvalid => "captcha_invalid",
            Self::EventNotTransactable => "event_not_transactable",
            Self::SoldOut => "sold_out",
            Self::InvalidState => "invalid_state",
            Self::HoldExpired => "hold_expired",
            Self::PaymentDeclined => "payment_declined",
            Self::InvalidSecurityCode => "invalid_security_code",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::MaintenanceWindow => "maintenance_window",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::PurchaseUnconfirmed => "purchase_unconfirmed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The `Retry-After` a refusal with this code carries when nothing better is known (an
    /// upstream reset time, a quota queue's length): the one rule for the codes that pass.
    pub fn default_retry_after(self) -> Option<u64> {
        match self {
            Self::MaintenanceWindow | Self::RateLimited | Self::UpstreamUnavailable => Some(5),
            _ => None,
        }
    }

    /// The HTTP status a problem with this code answers with.
    pub fn status(self) -> u16 {
        self.doc().status
    }

    /// The problem's `title`: the same for every problem with this code.
    pub fn title(self) -> &'static str {
        self.doc().title
    }

    /// Everything a partner's developer is told about this code. This one table is what the
    /// problem bodies (status, title), the `/problems/{code}` pages and the partner guide's
    /// table of codes are made from, so none of them can say something the others do not.
    pub const fn doc(self) -> CodeDoc {
        match self {
            Self::Unauthorized => CodeDoc {
                status: 401,
                title: "Missing, invalid or expired bearer token",
                seen_as: SeenAs::Problem,
                when: "The `Authorization: Bearer` token is missing, is not a JWT, is signed with \
                       another key or algorithm, has expired (`exp`, 30 s of leeway), is not \
                       valid yet (`nbf`), or lacks the configured `iss` or `aud`; the `detail` \
                       says which. On the admin listener: the admin token is missing or wrong.",
                action: "Mint a fresh token in your backend and retry once. If that fails too, \
                         the token is minted wrongly (secret, algorithm, claims): do not loop.",
            },
            Self::NotFound => CodeDoc {
                status: 404,
                title: "Not found",
                seen_as: SeenAs::Problem,
                when: "The checkout, order or event does not exist, or the checkout or order \
                       belongs to another user (always 404, never 403), or the route is \
                       unknown.",
                action: "Do not retry. Check the id and that the token's `sub` is the user who \
                         created the checkout.",
            },
            Self::ValidationFailed => CodeDoc {
                status: 422,
                title: "The request is not valid",
                seen_as: SeenAs::Problem,
                when: "The body is not JSON, or a field is missing or wrong. `errors` lists each \
                       field (its JSON path, e.g. `billing.address.country`) with a message.",
                action: "Show each message beside its field and let the user correct it. The \
                         same request answers the same again. Nothing was stored under its \
                         `Idempotency-Key`, so the corrected request may reuse the key.",
            },
            Self::CaptchaInvalid => CodeDoc {
                status: 422,
                title: "The captcha token is missing, stale or already used",
                seen_as: SeenAs::Problem,
                when: "`POST /v1/checkouts` with a `captcha_token` upstream refused: missing, \
                       too old, or already used (one token makes one checkout).",
                action: "Show the captcha page again (`GET /v1/captcha`), take the new token from \
                         its redirect, and create the checkout with it.",
            },
            Self::EventNotTransactable => CodeDoc {
                status: 409,
                title: "This event cannot be sold through the API",
                seen_as: SeenAs::Problem,
                when: "The event exists but the Partner API does not sell it (`transactable` is \
                       `false` in `GET /v1/events/{event_id}`).",
                action: "Do not offer checkout for this event; check `transactable` before \
                         showing a buy button. Retrying does not help.",
            },
            Self::SoldOut => CodeDoc {
                status: 409,
                title: "No inventory matches the request",
                seen_as: SeenAs::Problem,
                when: "No seats match the requested ticket type, price level and quantity.",
                action: "Tell the user; offer another ticket type, price level or a smaller \
                         quantity (a new captcha token is needed for the next checkout).",
            },
            Self::InvalidState => CodeDoc {
                status: 409,
                title: "The operation does not fit the checkout's state",
                seen_as: SeenAs::Problem,
                when: "The call does not fit the checkout's `state` (pay before `reserved`, \
                       purchase before `payment_accepted`, release after `purchased`, …), or \
                       another operation on the checkout is still running (then with \
                       `Retry-After`).",
                action: "Read the checkout (`GET /v1/checkouts/{id}`) and carry on from its \
                         `state`. With `Retry-After`, read it again after that many seconds.",
            },
            Self::HoldExpired => CodeDoc {
                status: 410,
                title: "The hold on the tickets ran out",
                seen_as: SeenAs::Problem,
                when: "Payment or purchase after `hold_expires_at`: upstream released the seats \
                       and the checkout has ended (`expired`, or `failed` when upstream refused \
                       the purchase for it). Nothing was charged.",
                action: "Start again with a new checkout (and a new captcha token). Show \
                         `hold_expires_at` as a countdown so users pay in time.",
            },
            Self::PaymentDeclined => CodeDoc {
                status: 402,
                title: "The payment was not accepted",
                seen_as: SeenAs::Problem,
                when: "The card was declined. On `PUT …/payment` the checkout goes back to \
                       `reserved` and keeps its hold; on a purchase it ends `failed` (nothing \
                       was charged).",
                action: "After a payment: ask for another card and pay again before \
                         `hold_expires_at`. After a purchase: start a new checkout.",
            },
            Self::InvalidSecurityCode => CodeDoc {
                status: 402,
                title: "The card security code was rejected",
                seen_as: SeenAs::Problem,
                when: "The CVV did not match the card. The checkout goes back to `reserved` and \
                       keeps its hold.",
                action: "Ask the user to enter the CVV again (or another card) and pay again.",
            },
            Self::IdempotencyKeyReused => CodeDoc {
                status: 422,
                title: "The Idempotency-Key was used for a different request",
                seen_as: SeenAs::Problem,
                when: "An `Idempotency-Key` this user already sent to the same method and path \
                       came with a different body (for a payment: another card or billing).",
                action: "A bug in the app: use a new key for each new operation, and the same \
                         key only to retry the same request. Do not retry this one.",
            },
            Self::IdempotencyKeyInUse => CodeDoc {
                status: 409,
                title: "A request with this Idempotency-Key is still running",
                seen_as: SeenAs::Problem,
                when: "A repeat arrived while the first request with this key was still running, \
                       and the first did not finish within the repeat's `Prefer: wait`.",
                action: "Retry the same request with the same key after a second or two, or read \
                         the checkout. Never switch to a new key for the same operation.",
            },
            Self::MaintenanceWindow => CodeDoc {
                status: 503,
                title: "The venue's ticketing system is in nightly maintenance",
                seen_as: SeenAs::Problem,
                when: "The venue's nightly maintenance window is on; `Retry-After` says when it \
                       ends. `maintenance` in the event tells in advance.",
                action: "Tell the user when sales resume and retry after `Retry-After`. Warn \
                         before the window using `maintenance.next_window_starts_at`.",
            },
            Self::RateLimited => CodeDoc {
                status: 429,
                title: "Too many requests",
                seen_as: SeenAs::Problem,
                when: "This user or address is over its share of requests, or the deployment's \
                       upstream quota is saturated. `Retry-After` (and `RateLimit`) are set.",
                action: "Wait `Retry-After` seconds, then send the same request (with the same \
                         `Idempotency-Key`). Do not retry in a tight loop.",
            },
            Self::UpstreamUnavailable => CodeDoc {
                status: 503,
                title: "Ticketing is unavailable right now",
                seen_as: SeenAs::Problem,
                when: "The Partner API (or the gateway's database) failed or did not answer, \
                       after the gateway's own retries. `Retry-After` is set.",
                action: "Read the checkout first (an operation already started goes on), then \
                         retry after `Retry-After` with the same `Idempotency-Key`.",
            },
            Self::PurchaseUnconfirmed => CodeDoc {
                // Only ever a checkout's `error`, answered with the checkout (202); as a status
                // of its own: upstream's answer was lost on its way back.
                status: 502,
                title: "The purchase's outcome is not confirmed yet; it must not be sent again",
                seen_as: SeenAs::CheckoutError,
                when: "The purchase was sent but its answer was lost, and no order has been \
                       found upstream yet. The user may have been charged. The checkout's \
                       `state` is `purchase_unconfirmed` and the gateway keeps looking.",
                action: "Never purchase again and never buy the same seats in a new checkout. \
                         Tell the user the order is being confirmed; wait for `purchased` \
                         (read the checkout now and then, or take the \
                         `checkout.purchase_confirmed` webhook in your backend).",
            },
            Self::PayloadTooLarge => CodeDoc {
                status: 413,
                title: "The request body is too large",
                seen_as: SeenAs::Problem,
                when: "The body is over 64 KiB; nothing ran.",
                action: "A bug in the app: no valid request is that large. Do not retry.",
            },
            Self::MethodNotAllowed => CodeDoc {
                status: 405,
                title: "The route does not take this method",
                seen_as: SeenAs::Problem,
                when: "The path is a route of the API, but not with this HTTP method; the \
                       `Allow` header lists the methods it takes. Nothing ran.",
                action: "A bug in the app: use a method `Allow` lists. Do not retry as is.",
            },
            Self::Internal => CodeDoc {
                status: 500,
                title: "Internal error",
                seen_as: SeenAs::Problem,
                when: "Something failed inside the gateway (e.g. its storage).",
                action: "Read the checkout before trying again: an operation may have started. \
                         Report it with the response's `X-Request-Id`.",
            },
        }
    }
}

/// One row of the table of codes ([`ErrorCode::doc`]). `when` and `action` are for the
/// partner's developers: plain sentences in which only `` `code spans` `` are marked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeDoc {
    /// The status of a problem with this code.
    pub status: u16,
    /// The problem's `title`.
    pub title: &'static str,
    /// How a partner meets the code.
    pub seen_as: SeenAs,
    /// When the gateway answers with it.
    pub when: &'static str,
    /// What the app should do.
    pub action: &'static str,
}

/// How a partner meets a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenAs {
    /// As the `code` of a problem+json answer with the row's status.
    Problem,
    /// Only as a checkout's `error.code`, in a 202 answer with the checkout.
    CheckoutError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_contract_statuses() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        // CONTRACT.md's error table, which binds the codes and their statuses.
        let contract = [
            ("unauthorized", 401),
            ("not_found", 404),
            ("validation_failed", 422),
            ("captcha_invalid", 422),
            ("event_not_transactable", 409),
            ("sold_out", 409),
            ("invalid_state", 409),
            ("hold_expired", 410),
            ("payment_declined", 402),
            ("invalid_security_code", 402),
            ("idempotency_key_reused", 422),
            ("idempotency_key_in_use", 409),
            ("maintenance_window", 503),
            ("rate_limited", 429),
            ("upstream_unavailable", 503),
        ];
        for (name, status) in contract {
            let code = ErrorCode::parse(name).expect(name);
            assert_eq!(code.status(), status, "{name}");
            assert_eq!(code.doc().seen_as, SeenAs::Problem, "{name}");
        }
    }

    #[test]
    fn every_code_is_described_in_plain_sentences() {
        for code in ErrorCode::ALL {
            let doc = code.doc();
            for text in [doc.title, doc.when, doc.action] {
                assert!(!text.trim().is_empty(), "{code:?}");
                // Markup is code spans only, and each is closed.
                assert_eq!(text.matches('`').count() % 2, 0, "{code:?}: {text}");
                assert!(!text.contains(['<', '>', '|', '\n']), "{code:?}: {text}");
            }
            assert!(
                doc.when.ends_with('.') && doc.action.ends_with('.'),
                "{code:?}"
            );
        }
    }
}
