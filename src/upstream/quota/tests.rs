//! The limiter's windows, lanes, shared claims and fair shares.

use super::*;
use std::sync::Arc;

/// One send of the gateway's own work; how long it waited.
async fn send(limiter: &QuotaLimiter, lane: Priority) -> Duration {
    let (waited, _slot) = limiter
        .acquire(Claim::system(lane))
        .await
        .expect("the gateway's own work is never refused");
    waited
}

#[tokio::test(start_paused = true)]
async fn never_more_than_capacity_in_a_window() {
    let limiter = QuotaLimiter::new(3.7);
    let mut times = Vec::new();
    for _ in 0..9 {
        send(&limiter, Priority::Critical).await;
        times.push(Instant::now());
    }
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        assert!(in_window <= 3, "{in_window} sends within 1 s");
    }
    // Nine sends at three per window need at least two full windows.
    assert!(times[8].duration_since(times[0]) >= WINDOW * 2);
}

#[tokio::test(start_paused = true)]
async fn a_per_minute_budget_holds_under_a_generous_per_second_quota() {
    let minute = Budget::per("minute", 5, Duration::from_secs(60));
    let limiter = QuotaLimiter::new(100.0).with_budgets([minute]);
    let start = Instant::now();
    for _ in 0..5 {
        send(&limiter, Priority::Critical).await;
    }
    assert!(
        Instant::now() - start < Duration::from_secs(1),
        "the first five flow"
    );
    send(&limiter, Priority::Critical).await;
    assert!(
        Instant::now() - start >= minute.window,
        "the sixth waits for the minute"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_every_lane() {
    let limiter = QuotaLimiter::new(10.0);
    let until = Instant::now() + Duration::from_secs(5);
    limiter.pause_until(until).await;
    send(&limiter, Priority::Critical).await;
    assert!(Instant::now() >= until);
}

/// Grants after `denials` refusals, each asking for a 100 ms wait; or always fails. The
/// first `slow` claims take 50 ms.
struct FakeShared {
    denials: std::sync::Mutex<u32>,
    broken: bool,
    slow: std::sync::Mutex<u32>,
    claims: std::sync::atomic::AtomicU32,
}

fn fake(denials: u32, broken: bool, slow: u32) -> Arc<FakeShared> {
    Arc::new(FakeShared {
        denials: std::sync::Mutex::new(denials),
        broken,
        slow: std::sync::Mutex::new(slow),
        claims: Default::default(),
    })
}

#[async_trait::async_trait]
impl SharedQuota for FakeShared {
    async fn claim(&self, _: &Budget, _: Duration, _: u32) -> Result<SharedAnswer, String> {
        self.claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.broken {
            return Err("database down".into());
        }
        let slow = {
            let mut left = self.slow.lock().unwrap();
            let was = *left;
            *left = was.saturating_sub(1);
            was > 0
        };
        if slow {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut denials = self.denials.lock().unwrap();
        if *denials == 0 {
            return Ok(SharedAnswer::Granted(1));
        }
        *denials -= 1;
        Ok(SharedAnswer::Full(Duration::from_millis(100)))
    }
}

#[tokio::test(start_paused = true)]
async fn every_send_waits_for_the_shared_quota() {
    let shared = fake(2, false, 0);
    let limiter = QuotaLimiter::new(10.0).shared_with(shared.clone());
    let waited = send(&limiter, Priority::Critical).await;
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert_eq!(*shared.denials.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn without_the_shared_quota_the_local_limit_still_holds() {
    let limiter = QuotaLimiter::new(2.0).shared_with(fake(0, true, 0));
    let started = Instant::now();
    for _ in 0..3 {
        send(&limiter, Priority::Critical).await;
    }
    assert!(started.elapsed() >= WINDOW);
}

#[tokio::test(start_paused = true)]
async fn a_slow_claim_is_replaced_by_a_fresh_one_a_bounded_number_of_times() {
    let once = fake(0, false, 1);
    send(
        &QuotaLimiter::new(10.0).shared_with(once.clone()),
        Priority::Critical,
    )
    .await;
    assert_eq!(once.claims.load(std::sync::atomic::Ordering::Relaxed), 2);
    let always = fake(0, false, u32::MAX);
    send(
        &QuotaLimiter::new(10.0).shared_with(always.clone()),
        Priority::Critical,
    )
    .await;
    let claims = always.claims.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(claims, 1 + MAX_SLOW_CLAIMS);
}

/// Everyone waiting at once on a full window; returns the lanes in the order served.
async fn served_order(limiter: Arc<QuotaLimiter>, lanes: &[Priority]) -> Vec<Priority> {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = lanes
        .iter()
        .map(|lane| {
            let (limiter, order, lane) = (limiter.clone(), order.clone(), *lane);
            tokio::spawn(async move {
                send(&limiter, lane).await;
                order.lock().unwrap().push(lane);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(order).unwrap().into_inner().unwrap()
}

#[tokio::test(start_paused = true)]
async fn under_saturation_higher_lanes_go_first() {
    let limiter = Arc::new(QuotaLimiter::new(1.0));
    send(&limiter, Priority::Job).await;
    let lanes = [
        Priority::Job,
        Priority::Release,
        Priority::Job,
        Priority::Critical,
        Priority::Reserve,
    ];
    let order = served_order(limiter, &lanes).await;
    assert_eq!(
        order,
        [
            Priority::Critical,
            Priority::Reserve,
            Priority::Release,
            Priority::Job,
            Priority::Job
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_low_lane_is_not_starved_by_a_stream_of_high_ones() {
    let limiter = Arc::new(QuotaLimiter::new(1.0));
    send(&limiter, Priority::Critical).await;
    let mut lanes = vec![Priority::Release];
    lanes.extend([Priority::Critical; 30]);
    let order = served_order(limiter, &lanes).await;
    let release_at = order.iter().position(|l| *l == Priority::Release).unwrap();
    // It rises a lane every 2 s and one send goes per second: served within ~6 sends,
    // long before the 30 critical ones are through.
    assert!(release_at <= 8, "the release waited for {release_at} sends");
    assert!(
        release_at >= 1,
        "aging must not beat a fresh higher lane at once"
    );
}

#[tokio::test(start_paused = true)]
async fn reads_and_jobs_never_take_a_turn_from_a_reserve_or_a_purchase() {
    let limiter = Arc::new(QuotaLimiter::new(1.0));
    send(&limiter, Priority::Critical).await;
    let mut lanes = vec![Priority::Job, Priority::Refresh];
    lanes.extend([Priority::Critical; 10]);
    lanes.extend([Priority::Reserve; 10]);
    let order = served_order(limiter, &lanes).await;
    // However long they wait, every purchase and reserve goes before them.
    assert!(
        order[..20].iter().all(|l| *l <= Priority::Reserve),
        "{order:?}"
    );
}

/// Sends of `owners` (one entry per send, all in one lane) waiting at once on a full
/// window; returns the owners in the order served.
async fn owners_served(limiter: Arc<QuotaLimiter>, owners: &[&'static str]) -> Vec<&'static str> {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for owner in owners {
        let (limiter, order, owner) = (limiter.clone(), order.clone(), *owner);
        tasks.push(tokio::spawn(async move {
            let claim = Claim {
                priority: Priority::Reserve,
                owner: Some(owner),
                refusable: false,
            };
            let granted = limiter.acquire(claim).await;
            assert!(granted.is_ok(), "not refusable");
            order.lock().unwrap().push(owner);
        }));
        // Queued in this order.
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(order).unwrap().into_inner().unwrap()
}

#[tokio::test(start_paused = true)]
async fn within_a_lane_users_take_turns() {
    let limiter = Arc::new(QuotaLimiter::new(1.0));
    send(&limiter, Priority::Critical).await;
    // The flooder queued six before the other user's two.
    let order = owners_served(
        limiter,
        &[
            "flood", "flood", "flood", "flood", "flood", "flood", "other", "other",
        ],
    )
    .await;
    let other_at: Vec<_> = order
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == "other")
        .map(|(i, _)| i)
        .collect();
    // The flooder's first send went while the queue was forming; then they alternate.
    assert!(other_at[0] <= 2 && other_at[1] <= 4, "{order:?}");
}

#[tokio::test(start_paused = true)]
async fn a_users_reads_past_its_share_are_refused_at_once_and_spend_nothing() {
    let shares = Shares {
        per_user: 2,
        per_lane: 100,
    };
    let limiter = Arc::new(QuotaLimiter::new(1.0).with_shares(shares));
    let read = |owner| Claim {
        priority: Priority::Refresh,
        owner: Some(owner),
        refusable: true,
    };
    let (_, first) = limiter.acquire(read("flood")).await.expect("within share");
    let (_, second) = limiter.acquire(read("flood")).await.expect("within share");
    let refused = limiter
        .acquire(read("flood"))
        .await
        .err()
        .expect("over share");
    assert!(refused.retry_after >= Duration::from_secs(1), "{refused:?}");
    // Nothing was spent on the refusal: another user is served in the same window...
    let waited = Instant::now();
    let (_, other) = limiter.acquire(read("other")).await.expect("its own share");
    assert!(waited.elapsed() < WINDOW * 2);
    // ...and a slot given back makes room again.
    drop(first);
    assert_eq!(limiter.log().queue.outstanding("flood"), 1);
    let again = limiter.acquire(read("flood")).await;
    assert!(again.is_ok());
    drop((second, other, again));
    assert_eq!(limiter.log().queue.outstanding("flood"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_lane_refuses_reads_but_never_an_operations_send() {
    let shares = Shares {
        per_user: 100,
        per_lane: 2,
    };
    let limiter = Arc::new(QuotaLimiter::new(1.0).with_shares(shares));
    send(&limiter, Priority::Critical).await;
    let mut waiting = Vec::new();
    for user in ["a", "b"] {
        let limiter = limiter.clone();
        waiting.push(tokio::spawn(async move {
            let claim = Claim {
                priority: Priority::Refresh,
                owner: Some(user),
                refusable: true,
            };
            limiter.acquire(claim).await.map(|_| ())
        }));
        tokio::task::yield_now().await;
    }
    let claim = Claim {
        priority: Priority::Refresh,
        owner: Some("c"),
        refusable: true,
    };
    assert!(limiter.acquire(claim).await.is_err(), "the lane is full");
    let system = Claim {
        refusable: false,
        ..claim
    };
    assert!(limiter.acquire(system).await.is_ok());
    for w in waiting {
        assert!(w.await.unwrap().is_ok());
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_does_not_block_the_queue() {
    let limiter = Arc::new(QuotaLimiter::new(1.0));
    send(&limiter, Priority::Critical).await;
    let waiter = {
        let limiter = limiter.clone();
        tokio::spawn(async move { send(&limiter, Priority::Critical).await })
    };
    tokio::task::yield_now().await;
    waiter.abort();
    let _ = waiter.await;
    let order = served_order(limiter, &[Priority::Job]).await;
    assert_eq!(order, [Priority::Job]);
}

#[tokio::test(start_paused = true)]
async fn the_shared_log_keeps_the_order_the_lanes_chose() {
    // The shared log refuses the first claims: every waiter has queued by then, and the
    // sends must still go out lane by lane, not in whatever order the refused ones retry.
    let limiter = Arc::new(QuotaLimiter::new(100.0).shared_with(fake(3, false, 0)));
    let lanes = [
        Priority::Job,
        Priority::Refresh,
        Priority::Release,
        Priority::Critical,
        Priority::Reserve,
    ];
    let order = served_order(limiter, &lanes).await;
    // The first waiter may have claimed before the others queued; the rest go by lane.
    let rest: Vec<_> = order.iter().skip(1).copied().collect();
    let mut sorted = rest.clone();
    sorted.sort();
    assert_eq!(rest, sorted, "{order:?}");
}

#[tokio::test(start_paused = true)]
async fn sends_burst_when_alone_and_are_spaced_while_others_wait() {
    let limiter = Arc::new(QuotaLimiter::new(4.0));
    let started = Instant::now();
    for _ in 0..4 {
        send(&limiter, Priority::Critical).await;
    }
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "alone, the window's sends go at once"
    );

    // Four more wait for the full window, which frees all at once: they go one spacing
    // apart, not in a burst.
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (limiter, times) = (limiter.clone(), times.clone());
            tokio::spawn(async move {
                send(&limiter, Priority::Reserve).await;
                times.lock().unwrap().push(Instant::now());
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let times = times.lock().unwrap().clone();
    let spacing = WINDOW / 4;
    // Every send made while another still waited came a spacing after the one before; the
    // last, alone by then, went at once.
    for pair in times[..3].windows(2) {
        assert!(pair[1] - pair[0] >= spacing, "{times:?}");
    }
    assert_eq!(times[3], times[2], "{times:?}");
}

/// Thousands waiting at once (a burst of checkouts' first calls): every send is granted, in
/// ticket order within a lane, at the quota, and a cancelled waiter does not stall the rest.
/// Only the waiter whose turn it is is woken per send; a lost wake-up would hang here (the
/// virtual clock caps the wait).
#[tokio::test(start_paused = true)]
async fn thousands_waiting_are_served_in_turn_without_stalling() {
    const WAITERS: usize = 2_000;
    let limiter = Arc::new(QuotaLimiter::new(500.0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..WAITERS {
        let (limiter, order) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            send(&limiter, Priority::Reserve).await;
            order.lock().unwrap().push(i);
        }));
        // Each queues before the next, so tickets follow `i`.
        tokio::task::yield_now().await;
    }
    // One in the middle gives up while waiting.
    tasks.remove(WAITERS / 2).abort();
    let started = Instant::now();
    let all = async {
        for task in tasks {
            task.await.expect("waiter");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("every waiter served within a minute of virtual time");
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), WAITERS - 1);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "served out of turn");
    // 1,999 sends at 500 per second take about four seconds, not a minute.
    assert!(Instant::now() - started < Duration::from_secs(10));
}

/// Grants every send asked for, after a 1 ms round trip (20 ms for the first `slow`
/// claims); records each claim's size.
#[derive(Default)]
struct Batching {
    asked: std::sync::Mutex<Vec<u32>>,
    slow: usize,
}

#[async_trait::async_trait]
impl SharedQuota for Batching {
    async fn claim(&self, _: &Budget, _: Duration, sends: u32) -> Result<SharedAnswer, String> {
        let slow = self.asked.lock().unwrap().len() < self.slow;
        let round_trip = if slow { 20 } else { 1 };
        tokio::time::sleep(Duration::from_millis(round_trip)).await;
        self.asked.lock().unwrap().push(sends);
        Ok(SharedAnswer::Granted(sends))
    }
}

/// `count` sends queued at once on `limiter`, each run to its grant.
async fn burst(limiter: &Arc<QuotaLimiter>, count: usize) {
    let sends = (0..count).map(|_| {
        let limiter = limiter.clone();
        tokio::spawn(async move { send(&limiter, Priority::Critical).await })
    });
    for sent in futures::future::join_all(sends).await {
        sent.expect("send task");
    }
}

#[tokio::test(start_paused = true)]
async fn sends_waiting_together_share_a_claim() {
    let shared = Arc::new(Batching::default());
    let limiter = Arc::new(QuotaLimiter::new(2000.0).shared_with(shared.clone()));
    burst(&limiter, 10).await;
    // The first claim goes out before the others queue; the nine queued by its answer share
    // the second (at 2,000 a second, 19 sends fit in the 10 ms claim slack).
    assert_eq!(*shared.asked.lock().unwrap(), vec![1, 9]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_never_outgrows_the_claim_slack() {
    let shared = Arc::new(Batching::default());
    // 100 a second: sends 10.2 ms apart, so one fits in the 10 ms slack: no batches.
    let limiter = Arc::new(QuotaLimiter::new(100.0).shared_with(shared.clone()));
    burst(&limiter, 5).await;
    assert_eq!(*shared.asked.lock().unwrap(), vec![1; 5]);
}

#[tokio::test(start_paused = true)]
async fn a_banked_send_older_than_the_slack_is_not_used() {
    let shared = Arc::new(Batching::default());
    let limiter = Arc::new(QuotaLimiter::new(2000.0).shared_with(shared.clone()));
    let first = {
        let limiter = limiter.clone();
        tokio::spawn(async move { send(&limiter, Priority::Critical).await })
    };
    // Queued while the first claim is out: the second claim asks for all four…
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { send(&limiter, Priority::Critical).await })
        })
        .collect();
    first.await.expect("first send");
    // Once the second claim is in, one of the four sends and the others wait their spacing
    // (0.5 ms each, in 1 ms timer ticks): by the next tick at most one more has gone.
    while shared.asked.lock().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Give the rest up: at least one banked send is left.
    for task in &waiting {
        task.abort();
    }
    tokio::time::sleep(CLAIM_SLACK * 2).await;
    send(&limiter, Priority::Critical).await;
    let asked = shared.asked.lock().unwrap().clone();
    assert_eq!(asked, [1, 4, 1], "the late send claimed anew");
}

#[tokio::test(start_paused = true)]
async fn spacing_below_a_millisecond_keeps_its_rate() {
    // 2,000 a second: slots 0.51 ms apart, finer than the timer's whole milliseconds. Sends
    // late for their slot go at once, so 200 queued sends take 200 slots' time, not 200 ms.
    // (The shared log's 1 ms round trips let the sends queue up behind each other.)
    let shared = Arc::new(Batching::default());
    let limiter = Arc::new(QuotaLimiter::new(2000.0).shared_with(shared));
    let started = Instant::now();
    burst(&limiter, 200).await;
    let took = started.elapsed();
    let slots = WINDOW / 2000 * 199;
    assert!(took >= slots - SPACING_CATCH_UP, "{took:?}: spaced");
    // Whole-millisecond spacing would take 200 ms.
    assert!(took <= slots * 3 / 2, "{took:?}: at the spacing's rate");
}

#[tokio::test(start_paused = true)]
async fn after_a_slow_claim_the_next_asks_for_one() {
    // The first claim answers after 20 ms (past the 10 ms slack): its slot is spent, and the
    // claim made again in its place asks for one send, not for the four queued meanwhile (a
    // slow batch would spend them all). The four then share the next claim.
    let shared = Arc::new(Batching {
        slow: 1,
        ..Batching::default()
    });
    let limiter = Arc::new(QuotaLimiter::new(2000.0).shared_with(shared.clone()));
    burst(&limiter, 5).await;
    assert_eq!(*shared.asked.lock().unwrap(), vec![1, 1, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_send_after_a_claim_ahead_takes_its_slot() {
    let shared = Arc::new(Batching::default());
    let limiter = QuotaLimiter::new(200.0).shared_with(shared.clone());
    limiter.claim_ahead().await;
    let asked_after = Instant::now();
    send(&limiter, Priority::Critical).await;
    assert_eq!(
        *shared.asked.lock().unwrap(),
        vec![1],
        "one claim for one send"
    );
    assert_eq!(
        Instant::now(),
        asked_after,
        "the send did not wait for a claim"
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_asked_while_its_claim_ahead_is_out_waits_for_it() {
    let shared = Arc::new(Batching::default());
    let limiter = Arc::new(QuotaLimiter::new(200.0).shared_with(shared.clone()));
    let started = Instant::now();
    let ahead = {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.claim_ahead().await })
    };
    // Asked half-way through the claim's 1 ms round trip (the write beside it was quicker).
    tokio::time::sleep(Duration::from_micros(500)).await;
    send(&limiter, Priority::Critical).await;
    ahead.await.expect("claim ahead");
    assert_eq!(*shared.asked.lock().unwrap(), vec![1]);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(1),
        "granted with the claim"
    );
}

#[tokio::test(start_paused = true)]
async fn a_claim_ahead_is_not_made_while_sends_wait_or_a_fresh_one_is_banked() {
    let shared = Arc::new(Batching::default());
    let limiter = Arc::new(QuotaLimiter::new(200.0).shared_with(shared.clone()));
    limiter.claim_ahead().await;
    limiter.claim_ahead().await;
    assert_eq!(
        shared.asked.lock().unwrap().len(),
        1,
        "one fresh slot banked is enough"
    );
    // A send claiming: nothing ahead of it.
    let sending = {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            send(&limiter, Priority::Critical).await;
            send(&limiter, Priority::Critical).await;
        })
    };
    tokio::time::sleep(Duration::from_micros(500)).await;
    limiter.claim_ahead().await;
    sending.await.expect("sends");
    assert_eq!(*shared.asked.lock().unwrap(), vec![1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_slot_claimed_ahead_and_not_sent_in_time_is_spent() {
    let shared = Arc::new(Batching::default());
    let limiter = QuotaLimiter::new(200.0).shared_with(shared.clone());
    limiter.claim_ahead().await;
    tokio::time::sleep(CLAIM_SLACK * 2).await;
    send(&limiter, Priority::Critical).await;
    assert_eq!(
        *shared.asked.lock().unwrap(),
        vec![1, 1],
        "the send claimed anew"
    );
}

#[tokio::test(start_paused = true)]
async fn a_claim_ahead_with_the_local_window_full_claims_nothing() {
    let shared = Arc::new(Batching::default());
    let limiter = QuotaLimiter::new(2.0).shared_with(shared.clone());
    send(&limiter, Priority::Critical).await;
    send(&limiter, Priority::Critical).await;
    limiter.claim_ahead().await;
    assert_eq!(
        shared.asked.lock().unwrap().len(),
        2,
        "no claim the window cannot send"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slot_claimed_with_the_callers_write_is_taken_by_the_next_send() {
    let shared = Arc::new(Batching::default());
    let limiter = QuotaLimiter::new(200.0).shared_with(shared.clone());
    let ahead = limiter.ahead().expect("an idle replica claims ahead");
    assert_eq!((ahead.budget, ahead.capacity), ("second", 200));
    assert_eq!(ahead.window, WINDOW + CLAIM_SLACK);
    // The caller's statement claimed it (the shared log was not asked by the limiter).
    ahead.granted(1);
    let asked_after = Instant::now();
    send(&limiter, Priority::Critical).await;
    assert!(
        shared.asked.lock().unwrap().is_empty(),
        "the send claimed anew"
    );
    assert_eq!(Instant::now(), asked_after, "the send waited");
}

#[tokio::test(start_paused = true)]
async fn a_send_asked_while_the_callers_claim_is_out_waits_for_it() {
    let shared = Arc::new(Batching::default());
    let limiter = Arc::new(QuotaLimiter::new(200.0).shared_with(shared.clone()));
    let ahead = limiter.ahead().expect("an idle replica claims ahead");
    assert!(limiter.ahead().is_none(), "one claim ahead at a time");
    let sending = {
        let limiter = limiter.clone();
        tokio::spawn(async move { send(&limiter, Priority::Critical).await })
    };
    tokio::time::sleep(Duration::from_micros(500)).await;
    assert!(
        !sending.is_finished(),
        "the send went before the claim answered"
    );
    ahead.granted(1);
    sending.await.expect("send");
    assert!(
        shared.asked.lock().unwrap().is_empty(),
        "one claim for one send"
    );
}

#[tokio::test(start_paused = true)]
async fn a_claim_the_callers_write_did_not_make_leaves_the_send_to_claim() {
    let shared = Arc::new(Batching::default());
    let limiter = QuotaLimiter::new(200.0).shared_with(shared.clone());
    // The write failed (the `Ahead` dropped), or its statement found no free slot.
    drop(limiter.ahead().expect("an idle replica claims ahead"));
    limiter.ahead().expect("the turn came back").granted(0);
    // Or it answered too late for its slot to be sent within the claim slack.
    let late = limiter.ahead().expect("the turn came back");
    tokio::time::sleep(CLAIM_SLACK * 2).await;
    late.granted(1);
    send(&limiter, Priority::Critical).await;
    assert_eq!(*shared.asked.lock().unwrap(), vec![1], "the send claimed");
}

#[tokio::test(start_paused = true)]
async fn no_claim_is_made_with_a_write_without_a_shared_log() {
    assert!(QuotaLimiter::new(200.0).ahead().is_none());
}
