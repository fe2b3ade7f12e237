//! Adding payment to a checkout. Card number and CVV live only in [`CardInput`] (secrecy
//! types, zeroized on drop) from the HTTP extractor to the encryptor; only brand and last4
//! are kept. Payment does not poll upstream (per the docs); it runs under the checkout's
//! lease while the request waits, and finishes in the background when the wait runs out.

use std::sync::Arc;

use super::billing::{BillingAddress, Email, NonEmpty, Phone};
use super::error::{CheckoutError, ErrorCode, RecordError, Refusal};
use super::lease::{Start, Taking};
use super::model::{Checkout, CheckoutFailure, PaymentSummary};
use super::service::{CheckoutService, Requester};
use super::state::CheckoutState;
use crate::card::{CardNumber, Cvv, ExpiryMonth, ExpiryYear};
use crate::liveness::LeaseToken;
use crate::metrics::LeaseTaking;
use crate::payment_crypto::{CryptoError, PaymentEncryptor};
use crate::store::StoreError;
use crate::upstream::{
    CallContext, FailureKind, FollowError, Priority, Reply, UpstreamError, wire,
};

/// The card, as parsed from the request. Never cloned, never serialised.
#[derive(Debug)]
pub struct CardInput {
    pub number: CardNumber,
    pub cvv: Cvv,
    pub expire_month: ExpiryMonth,
    pub expire_year: ExpiryYear,
}

#[derive(Debug, Clone)]
pub struct Billing {
    pub first_name: NonEmpty,
    pub last_name: NonEmpty,
    pub email: Email,
    pub phone: Phone,
    pub address: BillingAddress,
}

#[derive(Debug)]
pub struct PaymentInput {
    pub card: CardInput,
    pub billing: Billing,
}

impl PaymentInput {
    /// What tells this payment apart from another without its secrets: brand, last4, expiry
    /// and billing, as canonical JSON (sorted keys). An idempotent repeat is matched on this,
    /// so nothing the gateway stores is derived from the card number or the CVV: two payments
    /// that differ only in those are, to the idempotency record, the same request.
    pub fn identity(&self) -> String {
        let card = &self.card;
        let billing = &self.billing;
        serde_json::json!({
            "brand": card.number.brand().as_str(),
            "last4": card.number.last4(),
            "expire_month": card.expire_month.get(),
            "expire_year": card.expire_year.get(),
            "first_name": billing.first_name.as_str(),
            "last_name": billing.last_name.as_str(),
            "email": billing.email.as_str(),
            "phone": billing.phone.as_str(),
            "address": billing.address.to_wire(),
        })
        .to_string()
    }
}

/// How long a payment may take in all (certificate, encryption, the quota queue, upstream's
/// answer). Past it the payment is ended as interrupted and the card dropped: a payment task
/// never holds a card, a lease and a checkout in `paying` indefinitely.
const PAYMENT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

/// How long a payment waits for a running operation (e.g. a reserve settling) to finish.
const PAYMENT_LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A payment to make: the card and billing, how long the caller waits for the outcome, and
/// which states it may start from.
#[derive(Debug)]
pub struct PaymentAttempt {
    pub input: PaymentInput,
    pub wait: std::time::Duration,
    pub from: PayableFrom,
}

/// The states a payment may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayableFrom {
    /// `PUT …/payment`: a reserved checkout, or one whose accepted payment a new card
    /// replaces.
    ReservedOrAccepted,
    /// The hosted page: a reserved checkout only. An accepted payment ended the page's
    /// session, so a form sent twice (or two sessions sent at once) pays once.
    Reserved,
}

impl CheckoutService {
    /// Encrypt the card with upstream's certificate and add it to the cart. The amount is
    /// the checkout's own total. A refused encryption key (the certificate rotated early)
    /// is answered by fetching the certificate again and retrying once. An accepted payment
    /// ends every payment session of the checkout.
    pub async fn pay(
        self: &Arc<Self>,
        who: &Requester,
        id: crate::ids::CheckoutId,
        attempt: PaymentAttempt,
    ) -> Result<Checkout, CheckoutError> {
        let PaymentAttempt { input, wait, from } = attempt;
        let deadline = tokio::time::Instant::now() + wait;
        let (mut leased, owner) = self.begin_payment(who, id, from, wait).await?;
        // The payment runs in a task of its own: when the quota queue outlasts the caller's
        // `Prefer: wait`, the caller gets 202 (`paying`) and the payment still completes. The
        // card lives only in that task's memory and is zeroized when it ends.
        let this = self.clone();
        let payment = self.tasks.spawn_on(
            async move {
                let paid = tokio::time::timeout(
                    PAYMENT_DEADLINE,
                    this.send_and_settle(&mut leased, &owner, &input),
                )
                .await;
                let result = match paid {
                    Ok(result) => result,
                    Err(_overdue) => {
                        tracing::warn!(checkout_id = %id, "payment overran its deadline");
                        match this.payment_interrupted(&mut leased, &owner).await {
                            Ok(()) => Err(CheckoutError::refused(
                                ErrorCode::UpstreamUnavailable,
                                "the payment did not finish in time; please send it again",
                            )),
                            Err(e) => Err(e.into()),
                        }
                    }
                };
                drop(input);
                this.unlease_unless_settled(&leased, &owner).await;
                result.map(|()| leased)
            },
            &self.runtime,
        );
        match tokio::time::timeout_at(deadline, payment).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => {
                tracing::error!(checkout_id = %id, error = %join, "payment task failed");
                Err(CheckoutError::refused(
                    ErrorCode::Internal,
                    "the payment stopped unexpectedly; read the checkout before retrying",
                ))
            }
            Err(_still_paying) => self.wait_settled(id, std::time::Duration::ZERO).await,
        }
    }

    /// Take the lease and move the checkout to `paying`, written before the card goes out.
    /// From this replica's own record of the checkout when it has one with no lease on it:
    /// the write to `paying` then takes the lease too (its version check proves the lease
    /// still free), one statement where two were. Otherwise, or when that record turns out
    /// not to be the database's any more, the lease is taken by a statement of its own.
    async fn begin_payment(
        self: &Arc<Self>,
        who: &Requester,
        id: crate::ids::CheckoutId,
        from: PayableFrom,
        wait: std::time::Duration,
    ) -> Result<(Checkout, LeaseToken), CheckoutError> {
        let cached = self
            .cached_free(&who.user, id)
            .filter(|c| check_payable(c.state, from).is_ok() && !self.hold_ran_out(c));
        if let Some(cached) = cached {
            let owner = self.lease_owner();
            if let Some(paying) = self.paying(who, cached, &owner, from, wait).await? {
                return Ok((paying, owner));
            }
        }
        let owner = self.lease_owner();
        let leased = match self.lease_own(&who.user, id, &owner).await? {
            Taking::Leased(leased) => leased,
            Taking::Busy(checkout) => {
                check_payable(checkout.state, from)?;
                let leased = self.lease_when_free(id, &owner, PAYMENT_LEASE_WAIT).await?;
                leased.ok_or_else(|| {
                    CheckoutError::Refused(Refusal {
                        code: ErrorCode::InvalidState,
                        message:
                            "another operation on this checkout is running; retry when it settles"
                                .into(),
                        upstream_code: None,
                        checkout_id: Some(id),
                        retry_after: Some(1),
                    })
                })?
            }
        };
        self.metrics.operation_lease(LeaseTaking::OwnStatement);
        let paying = self.paying(who, leased, &owner, from, wait).await?;
        // Leased by its own statement, a conflicting write is the store's error, not a `None`.
        let paying = paying.ok_or(CheckoutError::Store(StoreError::Conflict))?;
        Ok((paying, owner))
    }

    /// The checks once the checkout is in hand, then the write to `paying`. `leased` holds the
    /// lease, or none when it is this replica's record, to be leased by that write: `None`
    /// then says the record was not the database's any more (nothing was written).
    async fn paying(
        self: &Arc<Self>,
        who: &Requester,
        mut leased: Checkout,
        owner: &str,
        from: PayableFrom,
        wait: std::time::Duration,
    ) -> Result<Option<Checkout>, CheckoutError> {
        if let Err(e) = self.payable_now(&leased, who, from, wait).await {
            self.unlease_unless_settled(&leased, owner).await;
            return Err(e);
        }
        if self.hold_ran_out(&leased) {
            return self.hold_ran_out_before_start(leased, owner).await;
        }
        self.apply(&mut leased, Checkout::begin_payment)?;
        match self.write_start(&mut leased, owner).await {
            Ok(Start::Written) => Ok(Some(leased)),
            Ok(Start::StaleRecord) => Ok(None),
            Err(e) => {
                self.unlease_unless_settled(&leased, owner).await;
                Err(e.into())
            }
        }
    }

    /// What a payment checks once it holds the lease: the checkout is still payable from
    /// where the payment was asked, the event's details are at hand, and upstream is not in
    /// its maintenance window.
    async fn payable_now(
        self: &Arc<Self>,
        leased: &Checkout,
        who: &Requester,
        from: PayableFrom,
        wait: std::time::Duration,
    ) -> Result<(), CheckoutError> {
        check_payable(leased.state, from)?;
        let prerequisite = super::events::prerequisite(wait);
        let info = self
            .event_info(&leased.event_id, &who.user, prerequisite)
            .await?;
        self.refuse_in_maintenance(&info)
    }

    /// A payment that did not finish (its deadline passed, or its worker died): back to
    /// payable, the user sends the card again (the gateway never kept it). Whether upstream
    /// took it does not matter: a cart takes a new payment in place of the old.
    pub(super) async fn payment_interrupted(
        &self,
        checkout: &mut Checkout,
        owner: &str,
    ) -> Result<(), RecordError> {
        self.apply(checkout, Checkout::payment_interrupted)?;
        self.save(checkout, owner).await?;
        Ok(())
    }

    /// Send the card of a checkout written as `paying` and record the answer.
    async fn send_and_settle(
        self: &Arc<Self>,
        leased: &mut Checkout,
        owner: &str,
        input: &PaymentInput,
    ) -> Result<(), CheckoutError> {
        let ctx = self.context_of(leased, Priority::Critical);
        match self.send_payment(&ctx, leased, input).await {
            Ok(()) => {
                let card = PaymentSummary {
                    brand: input.card.number.brand().as_str().to_owned(),
                    last4: input.card.number.last4(),
                };
                self.apply(leased, |c| c.payment_accepted(card))?;
                self.save(leased, owner).await?;
                // Off the answer's path: no session can pay an accepted checkout anyway
                // (opening one judges the checkout's state), so the answer need not wait for
                // the write that ends them.
                let (this, id) = (self.clone(), leased.id);
                let ending = async move { this.end_payment_sessions(id).await };
                self.tasks.spawn_on(ending, &self.runtime);
                Ok(())
            }
            Err(e) => {
                let refusal = e.refusal();
                // A refusal saying the cart is gone (`hold_expired`) ends the checkout; any
                // other leaves the hold, and the user may try another card.
                let failure = CheckoutFailure::new(refusal.code, refusal.message.clone())
                    .with_upstream_code(refusal.upstream_code);
                self.apply(leased, |c| c.payment_refused(failure))?;
                self.save(leased, owner).await?;
                Err(CheckoutError::Refused(Refusal {
                    checkout_id: Some(leased.id),
                    ..refusal
                }))
            }
        }
    }

    async fn send_payment(
        &self,
        ctx: &CallContext,
        checkout: &Checkout,
        input: &PaymentInput,
    ) -> Result<(), PaymentError> {
        let cart_id = checkout.cart_id.clone().ok_or(PaymentError::NoCart)?;
        let encryptor = self.encryptor(ctx, &cart_id).await?;
        let reply = match self
            .add_payment(ctx, checkout, &cart_id, &encryptor, input)
            .await
        {
            Err(PaymentError::Upstream(e))
                if is_key_refusal(&e) || e.kind() == FailureKind::PaymentDeclined =>
            {
                // Upstream may have rotated its certificate before the 24 h ran out. Some
                // readings of the docs answer a stale key with a plain "Payment Not Accepted"
                // (20122): a decline costs one certificate fetch, and the payment is tried
                // again only when upstream now issues another certificate (adding a payment
                // charges nothing; the purchase does).
                self.certificates
                    .invalidate(encryptor.certificate_id())
                    .await;
                let fresh = self.encryptor(ctx, &cart_id).await?;
                if fresh.certificate_id() == encryptor.certificate_id() {
                    return Err(e.into());
                }
                self.add_payment(ctx, checkout, &cart_id, &fresh, input)
                    .await
            }
            other => other,
        }?;
        // The docs say payment does not poll; if upstream polls anyway, follow it here.
        let _: wire::CartResponse = self.api.follow(ctx, reply).await?;
        Ok(())
    }

    async fn encryptor(
        &self,
        ctx: &CallContext,
        cart_id: &str,
    ) -> Result<Arc<PaymentEncryptor>, PaymentError> {
        self.certificates
            .get_or_fetch(self.now(), || async {
                Ok(self.api.certificate(ctx, cart_id).await?)
            })
            .await
    }

    async fn add_payment(
        &self,
        ctx: &CallContext,
        checkout: &Checkout,
        cart_id: &str,
        encryptor: &PaymentEncryptor,
        input: &PaymentInput,
    ) -> Result<Reply<wire::CartResponse>, PaymentError> {
        let fields = encryptor.encrypt_card(&input.card.number, &input.card.cvv)?;
        let amount = checkout
            .totals
            .as_ref()
            .map(|t| t.grand)
            .unwrap_or_default();
        let billing = &input.billing;
        let request = wire::PaymentRequest {
            cart_id: cart_id.to_owned(),
            payment: wire::Payment {
                first_name: billing.first_name.as_str().to_owned(),
                last_name: billing.last_name.as_str().to_owned(),
                home_phone: billing.phone.as_str().to_owned(),
                kind: "CC".into(),
                reference: None,
                email_address: billing.email.as_str().to_owned(),
                address: billing.address.to_wire(),
                amount: amount.to_decimal_string(),
                card: fields.into_wire(
                    input.card.expire_month.get(),
                    input.card.expire_year.get(),
                    billing.address.postal_code.as_str().to_owned(),
                ),
            },
        };
        Ok(self.api.add_payment(ctx, &request).await?)
    }
}

/// Why adding a payment did not go through: upstream's refusal or failure, or trouble that is
/// not upstream's answer (kept apart so that it is never read as one).
#[derive(Debug, thiserror::Error)]
enum PaymentError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The card could not be encrypted under upstream's certificate.
    #[error("the card could not be encrypted: {0}")]
    Encryption(#[from] CryptoError),
    /// The checkout holds no cart to pay into (our own record, not an answer from upstream).
    #[error("the checkout holds no cart")]
    NoCart,
    /// Upstream kept answering "poll again".
    #[error("no final answer after {polls} polls")]
    GaveUp { polls: u32 },
}

impl From<FollowError> for PaymentError {
    fn from(e: FollowError) -> Self {
        match e {
            FollowError::Upstream(e) => Self::Upstream(e),
            FollowError::GaveUp { polls } => Self::GaveUp { polls },
        }
    }
}

impl PaymentError {
    /// What partners are told, with the codes these failures have always had: trouble on the
    /// way is `upstream_unavailable` (try again), a checkout without a cart holds nothing
    /// (`hold_expired`, which ends it).
    fn refusal(self) -> Refusal {
        let (code, message) = match self {
            Self::Upstream(e) => return e.into(),
            Self::Encryption(ref e) => {
                tracing::warn!(error = %e, "payment not sent: the card could not be encrypted");
                (
                    ErrorCode::UpstreamUnavailable,
                    "the card could not be encrypted with ticketing's payment certificate",
                )
            }
            Self::NoCart => (ErrorCode::HoldExpired, "the checkout holds no cart"),
            Self::GaveUp { .. } => {
                tracing::warn!(error = %self, "payment unsettled: upstream kept polling");
                (
                    ErrorCode::UpstreamUnavailable,
                    "ticketing gave no final answer to the payment",
                )
            }
        };
        Refusal {
            code,
            message: message.to_owned(),
            upstream_code: None,
            checkout_id: None,
            retry_after: code.default_retry_after(),
        }
    }
}

fn check_payable(state: CheckoutState, from: PayableFrom) -> Result<(), CheckoutError> {
    match (state, from) {
        (CheckoutState::Reserved, _)
        | (CheckoutState::PaymentAccepted, PayableFrom::ReservedOrAccepted) => Ok(()),
        (state, _) => Err(CheckoutError::InvalidState {
            state,
            action: "pay",
        }),
    }
}

/// Upstream refuses an unknown `encryption_key` as invalid input (10002, HTTP 400).
/// A refusal that may be about the encryption key: invalid input (10002), or any refusal whose
/// message names the key, the certificate or the encryption (the docs do not say what a stale
/// certificate id gets; see `docs/upstream-assumptions.md`). One fresh certificate is tried.
fn is_key_refusal(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Api { code: 10002, .. } => true,
        UpstreamError::Api { message, .. } => {
            let message = message.to_ascii_lowercase();
            ["encryption", "certificate", "key"]
                .iter()
                .any(|word| message.contains(word))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64, message: &str) -> UpstreamError {
        UpstreamError::Api {
            status: 400,
            code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn refusals_that_may_be_about_the_key_get_a_fresh_certificate() {
        assert!(is_key_refusal(&api(10002, "Invalid input data type")));
        assert!(is_key_refusal(&api(20122, "Invalid encryption_key")));
        assert!(is_key_refusal(&api(1, "Certificate expired")));
        assert!(!is_key_refusal(&api(20122, "Payment Not Accepted")));
        assert!(!is_key_refusal(&api(
            20152,
            "Please enter a valid security code."
        )));
        assert!(!is_key_refusal(&UpstreamError::Status { status: 400 }));
    }
}
