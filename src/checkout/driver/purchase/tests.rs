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
