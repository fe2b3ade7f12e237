//! Records to store: a bare checkout, one with every optional field set, and orders.

use chrono::{DateTime, TimeDelta, Utc};

use checkout_gateway::checkout::error::ErrorCode;
use checkout_gateway::checkout::model::{
    Cents, Checkout, CheckoutFailure, Lease, Operation, Order, PaymentSummary, PendingPoll,
    TicketLine, TicketRequest, Totals, UserId,
};
use checkout_gateway::checkout::state::CheckoutState;
use checkout_gateway::ids::{CheckoutId, OrderId};
use checkout_gateway::store::Store;

/// A fixed instant plus `ms`: tests pass time explicitly, like the application does.
pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_760_000_000_000).expect("a valid instant")
        + TimeDelta::milliseconds(ms)
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).expect("a valid user id")
}

/// A checkout just created: state `reserving`, every optional field empty.
pub fn bare_checkout(owner: &str) -> Checkout {
    Checkout {
        id: CheckoutId::new(),
        user_id: user(owner),
        event_id: "evt-1".to_owned(),
        state: CheckoutState::Reserving,
        cart_id: None,
        requested: vec![TicketRequest {
            ticket_id: "tkt-1".to_owned(),
            quantity: 2,
            price_level_id: None,
        }],
        lines: Vec::new(),
        totals: None,
        hold_expires_at: None,
        payment: None,
        order_id: None,
        failure: None,
        operation: None,
        poll: None,
        release_requested: false,
        client_ip: "203.0.113.7".to_owned(),
        lease: None,
        version: 0,
        created_at: at(0),
        updated_at: at(0),
        purchase_started_at: None,
        next_check_at: None,
    }
}

/// A [`bare_checkout`] of `owner`, inserted into `store`.
pub async fn inserted_checkout(store: &Store, owner: &str) -> Checkout {
    let checkout = bare_checkout(owner);
    store
        .checkouts
        .insert(&checkout)
        .await
        .expect("insert checkout");
    checkout
}

/// `base` with every field changed and every optional field set (the id stays).
pub fn full_checkout(base: &Checkout) -> Checkout {
    Checkout {
        id: base.id,
        user_id: user("someone-else"),
        event_id: "evt-2".to_owned(),
        state: CheckoutState::PaymentAccepted,
        cart_id: Some("cart/with spaces+slash".to_owned()),
        requested: vec![TicketRequest {
            ticket_id: "tkt-2".to_owned(),
            quantity: 3,
            price_level_id: Some(7),
        }],
        lines: vec![TicketLine {
            ticket_id: "tkt-2".to_owned(),
            quantity: 3,
            section: "101".to_owned(),
            row: "C".to_owned(),
            seats: vec!["1".to_owned(), "2".to_owned(), "3".to_owned()],
            price: Cents(6900),
        }],
        totals: Some(Totals {
            currency: "USD".to_owned(),
            face: Cents(20700),
            fees: Cents(1500),
            taxes: Cents(300),
            grand: Cents(22500),
        }),
        hold_expires_at: Some(at(600_000)),
        payment: Some(PaymentSummary {
            brand: "visa".to_owned(),
            last4: "4242".to_owned(),
        }),
        order_id: Some(OrderId::new()),
        failure: Some(CheckoutFailure {
            code: ErrorCode::PaymentDeclined,
            message: "Declined, try another card".to_owned(),
            upstream_code: Some(40_002),
        }),
        operation: Some(Operation::Purchase),
        poll: Some(PendingPoll {
            url: "https://upstream.test/poll/1?wait=5".to_owned(),
            not_before: at(1_500),
        }),
        release_requested: true,
        client_ip: "2001:db8::1".to_owned(),
        lease: Some(Lease {
            owner: "worker-a".to_owned(),
            until: at(30_000),
        }),
        version: base.version,
        created_at: at(-5),
        updated_at: at(1_000),
        purchase_started_at: Some(at(900)),
        next_check_at: Some(at(60_000)),
    }
}

/// An order for `checkout`, created at `at(created_ms)`.
pub fn order_for(checkout: &Checkout, token: &str, created_ms: i64) -> Order {
    Order {
        id: OrderId::new(),
        checkout_id: checkout.id,
        user_id: checkout.user_id.clone(),
        event_id: checkout.event_id.clone(),
        order_token: token.to_owned(),
        redemption_url: format!("https://tickets.test/redeem/{token}"),
        app_url: format!("tmapp://order/{token}"),
        grand_total: Cents(22500),
        currency: "USD".to_owned(),
        source_account_id: "acct-1".to_owned(),
        created_at: at(created_ms),
    }
}

/// `checkout` as the store holds it after one successful write.
pub fn bumped(checkout: &Checkout) -> Checkout {
    Checkout {
        version: checkout.version + 1,
        ..checkout.clone()
    }
}
