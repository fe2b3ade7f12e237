use chrono::TimeZone;

use super::*;
use crate::ids::CheckoutId;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("a valid time")
}

fn checkout(state: CheckoutState, operation: Option<Operation>) -> Checkout {
    Checkout {
        id: CheckoutId::new(),
        user_id: crate::checkout::model::UserId::parse("user-1").expect("a valid user"),
        event_id: "evt-1".into(),
        state,
        cart_id: Some("cart-1".into()),
        requested: Vec::new(),
        lines: Vec::new(),
        totals: None,
        hold_expires_at: Some(at(600)),
        payment: None,
        order_id: None,
        failure: None,
        operation,
        poll: Some(PendingPoll {
            url: "https://upstream.test/polling/1".into(),
            not_before: at(4),
        }),
        release_requested: false,
        client_ip: "203.0.113.7".into(),
        lease: None,
        version: 3,
        created_at: at(0),
        updated_at: at(0),
        purchase_started_at: Some(at(1)),
        next_check_at: None,
    }
}

#[test]
fn a_change_that_does_not_fit_the_state_writes_nothing() {
    let before = checkout(CheckoutState::Reserved, None);
    let mut after = before.clone();
    let refused = after.fail(CheckoutFailure::new(ErrorCode::SoldOut, "gone"));
    assert_eq!(
        refused,
        Err(InvalidTransition {
            from: CheckoutState::Reserved,
            event: CheckoutEvent::Failed
        })
    );
    assert_eq!(after, before);
    assert!(after.purchased(OrderId::new()).is_err());
    assert!(after.begin_purchase().is_err());
    assert_eq!(after, before);
}

/// What a change decides: the state, the operation left running, the failure's code.
fn outcome(c: &Checkout) -> (CheckoutState, Option<Operation>, Option<ErrorCode>) {
    (c.state, c.operation, c.failure.as_ref().map(|f| f.code))
}

/// The change was made (what it moved is checked where it matters).
fn fits(moved: Result<Moved, InvalidTransition>) {
    let _: Moved = moved.expect("the change fits the state");
}

#[test]
fn a_failure_owes_the_cart_deletion_unless_the_hold_is_gone() {
    let mut failed = checkout(CheckoutState::Reserving, Some(Operation::Reserve));
    let moved = failed.fail(CheckoutFailure::new(ErrorCode::SoldOut, "gone"));
    let to_failed = Moved {
        from: CheckoutState::Reserving,
        to: CheckoutState::Failed,
    };
    assert_eq!(moved, Ok(to_failed));
    let release = Some(Operation::Release);
    assert_eq!(
        outcome(&failed),
        (CheckoutState::Failed, release, Some(ErrorCode::SoldOut))
    );
    assert_eq!(failed.poll, None);

    let mut gone = checkout(CheckoutState::Reserving, Some(Operation::Reserve));
    fits(gone.fail(CheckoutFailure::new(ErrorCode::HoldExpired, "gone")));
    assert_eq!(gone.operation, None);

    let mut no_cart = checkout(CheckoutState::Reserving, Some(Operation::Reserve));
    no_cart.cart_id = None;
    fits(no_cart.fail(CheckoutFailure::new(ErrorCode::SoldOut, "gone")));
    assert_eq!(no_cart.operation, None);
}

#[test]
fn an_expiry_by_our_clock_owes_the_deletion_even_of_a_hold_upstream_may_have_dropped() {
    let mut expired = checkout(CheckoutState::Reserved, None);
    fits(expired.expire());
    let release = Some(Operation::Release);
    assert_eq!(
        outcome(&expired),
        (
            CheckoutState::Expired,
            release,
            Some(ErrorCode::HoldExpired)
        )
    );
}

#[test]
fn a_payment_refused_because_the_hold_is_gone_expires_without_a_deletion() {
    let mut gone = checkout(CheckoutState::Reserved, None);
    fits(gone.begin_payment());
    assert_eq!(gone.operation, Some(Operation::Payment));
    fits(gone.payment_refused(CheckoutFailure::new(ErrorCode::HoldExpired, "gone")));
    let expired = (CheckoutState::Expired, None, Some(ErrorCode::HoldExpired));
    assert_eq!(outcome(&gone), expired);

    let mut declined = checkout(CheckoutState::Reserved, None);
    fits(declined.begin_payment());
    fits(declined.payment_refused(CheckoutFailure::new(ErrorCode::PaymentDeclined, "no")));
    let payable = (
        CheckoutState::Reserved,
        None,
        Some(ErrorCode::PaymentDeclined),
    );
    assert_eq!(outcome(&declined), payable);
}

#[test]
fn a_purchase_starts_clean_and_ends_with_its_order_and_nothing_running() {
    let mut checkout = checkout(CheckoutState::PaymentAccepted, None);
    checkout.failure = Some(CheckoutFailure::new(ErrorCode::PaymentDeclined, "earlier"));
    fits(checkout.begin_purchase());
    let purchasing = (CheckoutState::Purchasing, Some(Operation::Purchase), None);
    assert_eq!(outcome(&checkout), purchasing);
    assert_eq!(
        (&checkout.poll, checkout.purchase_started_at),
        (&None, None)
    );

    fits(checkout.purchase_outcome_lost("lost".into()));
    let unknown = Some(ErrorCode::UpstreamUnavailable);
    let reconciling = (
        CheckoutState::PurchaseUnknown,
        Some(Operation::Purchase),
        unknown,
    );
    assert_eq!(outcome(&checkout), reconciling);

    fits(checkout.purchase_unconfirmed(at(60)));
    assert_eq!(checkout.next_check_at, Some(at(60)));
    let order = OrderId::new();
    fits(checkout.purchased(order));
    assert_eq!(outcome(&checkout), (CheckoutState::Purchased, None, None));
    assert_eq!(
        (checkout.order_id, checkout.next_check_at),
        (Some(order), None)
    );
}

/// Whether `line` is an assignment statement to a field this module keeps (`a.b.poll = …;`),
/// not a log macro's field (`upstream.operation = op,`) or text that merely looks like one.
fn assigns_a_kept_field(line: &str) -> bool {
    let Some((target, value)) = line.trim().split_once(" = ") else {
        return false;
    };
    let is_path = target.split('.').all(|part| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let field = target.rsplit_once('.').map(|(_, field)| field);
    is_path
        && matches!(field, Some("state" | "operation" | "poll" | "failure"))
        && !value.trim_end().ends_with(',')
}

/// The rule of this module, held to account: outside it, no source file assigns a checkout's
/// `state`, `operation`, `poll` or `failure`.
#[test]
fn nothing_else_writes_the_fields_this_module_keeps() {
    assert!(assigns_a_kept_field(
        "        leased.operation = Some(Operation::Payment);"
    ));
    assert!(assigns_a_kept_field(
        "checkout.failure = Some(CheckoutFailure {"
    ));
    assert!(!assigns_a_kept_field(
        "            upstream.operation = op,"
    ));
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let here = std::path::Path::new("checkout").join("lifecycle");
    let mut offenders = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            let relative = path.strip_prefix(&src).expect("below src");
            if path.is_dir() {
                dirs.push(path);
            } else if relative.with_extension("") != here && !relative.starts_with(&here) {
                let text = std::fs::read_to_string(&path).expect("a source file is text");
                offenders.extend(
                    text.lines()
                        .enumerate()
                        .filter(|(_, line)| assigns_a_kept_field(line))
                        .map(|(n, line)| {
                            format!("{}:{}: {}", relative.display(), n + 1, line.trim())
                        }),
                );
            }
        }
    }
    assert!(offenders.is_empty(), "direct writes: {offenders:#?}");
}
