//! The one-purchase-in-doubt rule ([`must_wait`]) over every order in which two purchases of
//! one user and event can write their send times and look at each other.

use super::*;

fn turn(age_secs: i64, maybe_sent: bool) -> Turn {
    let created = chrono::DateTime::from_timestamp(1_800_000_000 + age_secs, 0).expect("time");
    Turn {
        age: (created, CheckoutId::new()),
        maybe_sent,
    }
}

#[test]
fn an_older_unsettled_purchase_goes_first_sent_or_not() {
    let (older, me) = (turn(0, false), turn(10, true));
    assert!(must_wait(me, &[older]));
    assert!(must_wait(
        me,
        &[Turn {
            maybe_sent: true,
            ..older
        }]
    ));
}

#[test]
fn a_newer_purchase_blocks_only_when_it_may_have_been_sent() {
    let (me, newer) = (turn(0, true), turn(10, false));
    assert!(!must_wait(me, &[newer]), "a newer one waiting is no reason");
    assert!(must_wait(
        me,
        &[Turn {
            maybe_sent: true,
            ..newer
        }]
    ));
    assert!(!must_wait(me, &[]));
}

/// Two purchases, A older than B, each writes its send time, then looks (in the request's
/// write and the driver's read); a look sees the other only when the other's write came
/// before it. In all six orders, never both are sent, and when neither goes, the next round
/// (the newer writes nothing while the older is unsettled) sends the older.
#[test]
fn two_purchases_never_both_go_whatever_the_order_of_writes_and_looks() {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        Write(usize),
        Look(usize),
    }
    let orders: Vec<[Op; 4]> = {
        use Op::*;
        vec![
            [Write(0), Look(0), Write(1), Look(1)],
            [Write(0), Write(1), Look(0), Look(1)],
            [Write(0), Write(1), Look(1), Look(0)],
            [Write(1), Look(1), Write(0), Look(0)],
            [Write(1), Write(0), Look(1), Look(0)],
            [Write(1), Write(0), Look(0), Look(1)],
        ]
    };
    let (a, b) = (turn(0, true), turn(10, true));
    let turns = [a, b];
    for order in orders {
        let mut written = [false, false];
        let mut goes = [false, false];
        for op in order {
            match op {
                Op::Write(who) => written[who] = true,
                Op::Look(who) => {
                    let other = 1 - who;
                    let seen: Vec<Turn> =
                        written[other].then_some(turns[other]).into_iter().collect();
                    goes[who] = !must_wait(turns[who], &seen);
                }
            }
        }
        assert!(!(goes[0] && goes[1]), "both sent");
        if !goes[0] && !goes[1] {
            // Both waited and cleared their send times. The older looks first, writes its
            // time, looks again; the newer, seeing the older unsettled, writes nothing.
            let b_waiting = Turn {
                maybe_sent: false,
                ..b
            };
            assert!(!must_wait(a, &[b_waiting]), "the older goes next");
            assert!(must_wait(b_waiting, &[a]), "the newer keeps waiting");
        }
    }
}

fn api(code: i64, status: u16) -> UpstreamError {
    UpstreamError::Api {
        status,
        code,
        message: String::new(),
    }
}

fn fault(status: u16, code: FaultCode) -> UpstreamError {
    UpstreamError::Fault { status, code }
}

/// Bare statuses, no body the docs describe.
fn statuses(list: &[u16]) -> Vec<UpstreamError> {
    list.iter()
        .map(|&status| UpstreamError::Status { status })
        .collect()
}

fn unreadable() -> UpstreamError {
    UpstreamError::Decode {
        reason: String::new(),
    }
}

#[test]
fn only_a_documented_refusal_proves_a_purchase_was_not_made() {
    use Answered::{Poll, Purchase};
    for (code, status) in [
        (20122, 400),
        (20152, 400),
        (20052, 400),
        (90001, 403),
        (10004, 401),
        (10031, 400),
    ] {
        for answered in [Purchase, Poll] {
            assert_eq!(
                proof_of(&api(code, status), answered),
                Proof::Refused,
                "{code} answering the {answered:?}"
            );
        }
    }
    // The purchase's own call refused in words the docs give a call.
    let documented = [
        api(10002, 400),
        api(21001, 400),
        fault(401, FaultCode::InvalidApiKey),
        fault(401, FaultCode::InvalidAccessToken),
    ];
    for refused in statuses(&[401, 404, 405, 406])
        .into_iter()
        .chain(documented)
    {
        assert_eq!(proof_of(&refused, Purchase), Proof::Refused, "{refused:?}");
    }
}

#[test]
fn a_refused_poll_of_a_taken_purchase_proves_nothing_of_it() {
    // Upstream took the purchase (202 with a polling URL); the poll's own refusal is not the
    // purchase's answer.
    let refused = [
        fault(401, FaultCode::InvalidAccessToken),
        fault(401, FaultCode::InvalidApiKey),
        api(10002, 400),
        api(21001, 400),
        api(55555, 400),
        UpstreamError::ForeignPollingUrl,
        UpstreamError::PollGone,
        unreadable(),
    ];
    for e in statuses(&[400, 401, 403, 405, 406, 422])
        .into_iter()
        .chain(refused)
    {
        assert_eq!(proof_of(&e, Answered::Poll), Proof::None, "{e:?}");
    }
}

#[test]
fn an_answer_the_docs_do_not_define_leaves_a_sent_purchase_in_doubt_never_sent_again() {
    let unknown = [
        api(55555, 400),
        api(55555, 409),
        api(1, 500),
        fault(403, FaultCode::Other("policies.something".into())),
        UpstreamError::Transport {
            maybe_sent: true,
            reason: String::new(),
        },
        UpstreamError::ForeignPollingUrl,
        unreadable(),
    ];
    for e in statuses(&[409, 303, 408, 410, 400, 403, 500, 503])
        .into_iter()
        .chain(unknown)
    {
        assert_eq!(proof_of(&e, Answered::Purchase), Proof::None, "{e:?}");
    }
}

#[test]
fn what_never_left_or_troubled_only_a_poll_is_asked_again() {
    let refused_connection = UpstreamError::Transport {
        maybe_sent: false,
        reason: String::new(),
    };
    let no_token = UpstreamError::NoToken {
        cause: Box::new(UpstreamError::Transport {
            maybe_sent: true,
            reason: String::new(),
        }),
    };
    let quota = UpstreamError::RateLimited { reset_at: None };
    for e in [&refused_connection, &no_token, &quota] {
        assert_eq!(proof_of(e, Answered::Purchase), Proof::AskAgain, "{e:?}");
        assert_eq!(proof_of(e, Answered::Poll), Proof::AskAgain, "{e:?}");
    }
    let dropped = UpstreamError::Transport {
        maybe_sent: true,
        reason: String::new(),
    };
    for e in statuses(&[500, 503, 429])
        .into_iter()
        .chain([api(1, 500), dropped])
    {
        assert_eq!(proof_of(&e, Answered::Poll), Proof::AskAgain, "{e:?}");
    }
}
