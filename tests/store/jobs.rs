//! Job runs (claimed once per scheduled time, taken over after the lease), findings, and
//! webhook deliveries (leased once, retried, dead-lettered, re-driven).

use std::sync::Arc;

use checkout_gateway::ids::{DeliveryId, RunId};
use checkout_gateway::jobs::model::{
    AttemptResult, Delivery, DeliveryClaim, DeliveryStatus, Finding, JobName, JobRun, RunClaim,
    RunResult, RunStatus, Trigger,
};
use checkout_gateway::store::Store;

use crate::fixtures::{at, user};

crate::conformance!(crate::migrated =>
    one_claimer_of_many_gets_a_scheduled_run,
    a_finished_run_is_never_claimed_again,
    an_expired_lease_is_taken_over_and_the_old_owner_cannot_finish,
    findings_and_deliveries_are_recorded_once_per_run_and_order,
    a_delivery_is_leased_by_one_claimer_and_retried_when_due,
    a_dead_letter_is_counted_listed_and_redriven,
);

fn claim(scheduled_ms: i64, owner: &str, now_ms: i64) -> RunClaim {
    RunClaim {
        id: RunId::new(),
        job: JobName::Unredeemed,
        scheduled_at: at(scheduled_ms),
        trigger: Trigger::Schedule,
        owner: owner.to_owned(),
        lease_until: at(now_ms + 1_000),
        now: at(now_ms),
    }
}

fn succeeded(finished_ms: i64) -> RunResult {
    RunResult {
        status: RunStatus::Succeeded,
        known_orders: 2,
        unknown_orders: 1,
        error: None,
        finished_at: at(finished_ms),
    }
}

async fn started(store: &Store, scheduled_ms: i64) -> JobRun {
    store
        .jobs
        .claim_run(&claim(scheduled_ms, "w1", scheduled_ms))
        .await
        .expect("claim")
        .expect("a new run is granted")
}

fn finding(run: RunId, token: &str, known: bool) -> Finding {
    Finding {
        run_id: run,
        order_token: token.to_owned(),
        query: "days_from_purchase=1".into(),
        source_account_id: format!("acct-{token}"),
        user_id: known.then(|| user("alice")),
        order_id: None,
        event_id: "EVT".into(),
        purchased_at: at(10),
        event_starts_at: at(20),
        email_status: 2,
        recorded_at: at(30),
    }
}

pub fn delivery(run: Option<RunId>, token: &str, created_ms: i64) -> Delivery {
    Delivery {
        id: DeliveryId::new(),
        run_id: run,
        order_token: token.to_owned(),
        payload: format!(r#"{{"order_token":"{token}"}}"#),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: at(created_ms),
        dead_after: at(created_ms + 10_000),
        lease: None,
        last_error: None,
        created_at: at(created_ms),
        updated_at: at(created_ms),
        delivered_at: None,
    }
}

fn claim_deliveries(owner: &str, now_ms: i64) -> DeliveryClaim {
    DeliveryClaim {
        owner: owner.to_owned(),
        now: at(now_ms),
        lease_until: at(now_ms + 1_000),
        limit: 10,
    }
}

async fn one_claimer_of_many_gets_a_scheduled_run(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let jobs = Arc::clone(&store.jobs);
        tasks.push(tokio::spawn(async move {
            jobs.claim_run(&claim(60_000, &format!("w{i}"), 60_000))
                .await
                .expect("claim")
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one replica runs a scheduled time");
    let runs = store
        .jobs
        .list_runs(JobName::Unredeemed, 10)
        .await
        .expect("list");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Running);
    assert_eq!(runs[0].attempts, 1);
}

async fn a_finished_run_is_never_claimed_again(store: Store) {
    let run = started(&store, 60_000).await;
    let finished = store
        .jobs
        .finish_run(run.id, "w1", &succeeded(61_000))
        .await
        .expect("finish");
    assert!(finished);
    // Long after any lease would have run out, the same scheduled time stays done.
    let again = store
        .jobs
        .claim_run(&claim(60_000, "w2", 999_000))
        .await
        .expect("claim");
    assert_eq!(again, None);
    let latest = store
        .jobs
        .latest_scheduled_run(JobName::Unredeemed)
        .await
        .expect("latest")
        .expect("a run");
    assert_eq!(latest.id, run.id);
    assert_eq!(latest.status, RunStatus::Succeeded);
    assert_eq!((latest.known_orders, latest.unknown_orders), (2, 1));
    assert_eq!(latest.lease, None);
    assert_eq!(latest.finished_at, Some(at(61_000)));
}

async fn an_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(store: Store) {
    let run = started(&store, 60_000).await; // lease until 61_000
    // Still held (a lease ending exactly now holds).
    let early = store
        .jobs
        .claim_run(&claim(60_000, "w2", 61_000))
        .await
        .expect("claim");
    assert_eq!(early, None);
    assert!(
        store
            .jobs
            .renew_run(run.id, "w1", at(62_000))
            .await
            .expect("renew")
    );
    let taken = store
        .jobs
        .claim_run(&claim(60_000, "w2", 62_001))
        .await
        .expect("claim")
        .expect("taken over");
    assert_eq!(taken.id, run.id, "a takeover keeps the run");
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.lease.as_ref().map(|l| l.owner.as_str()), Some("w2"));
    assert!(
        !store
            .jobs
            .renew_run(run.id, "w1", at(70_000))
            .await
            .expect("renew")
    );
    assert!(
        !store
            .jobs
            .finish_run(run.id, "w1", &succeeded(63_000))
            .await
            .expect("finish")
    );
    assert!(
        store
            .jobs
            .finish_run(run.id, "w2", &succeeded(63_000))
            .await
            .expect("finish")
    );
    // A later scheduled time is a run of its own.
    let next = started(&store, 120_000).await;
    assert_ne!(next.id, run.id);
    let latest = store
        .jobs
        .latest_scheduled_run(JobName::Unredeemed)
        .await
        .expect("latest");
    assert_eq!(latest.map(|r| r.id), Some(next.id));
}

async fn findings_and_deliveries_are_recorded_once_per_run_and_order(store: Store) {
    let run = started(&store, 60_000).await;
    let first = delivery(Some(run.id), "tok-a", 1_000);
    for _ in 0..2 {
        store
            .jobs
            .record_finding(&finding(run.id, "tok-a", true), Some(&first))
            .await
            .expect("record");
    }
    // A takeover records the same order again with a new message id: the first one stays.
    let second = delivery(Some(run.id), "tok-a", 2_000);
    store
        .jobs
        .record_finding(&finding(run.id, "tok-a", true), Some(&second))
        .await
        .expect("record again");
    store
        .jobs
        .record_finding(&finding(run.id, "tok-b", false), None)
        .await
        .expect("record unknown");

    let findings = store.jobs.findings(run.id).await.expect("findings");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0], finding(run.id, "tok-a", true));
    assert_eq!(findings[1].user_id, None, "an unknown account is kept");
    let pending = store
        .jobs
        .list_deliveries(DeliveryStatus::Pending, 10)
        .await
        .expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, first.id);
    assert_eq!(pending[0].payload, first.payload);
    let backlog = store.jobs.delivery_backlog().await.expect("backlog");
    assert_eq!(backlog.dead, 0);
    assert_eq!(backlog.oldest_pending, Some(at(1_000)));
}

async fn a_delivery_is_leased_by_one_claimer_and_retried_when_due(store: Store) {
    let run = started(&store, 60_000).await;
    for (token, created) in [("tok-a", 1_000), ("tok-b", 5_000)] {
        store
            .jobs
            .record_finding(
                &finding(run.id, token, true),
                Some(&delivery(Some(run.id), token, created)),
            )
            .await
            .expect("record");
    }
    let mut tasks = Vec::new();
    for i in 0..6 {
        let jobs = Arc::clone(&store.jobs);
        tasks.push(tokio::spawn(async move {
            jobs.claim_deliveries(&claim_deliveries(&format!("w{i}"), 2_000))
                .await
                .expect("claim")
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("task"));
    }
    assert_eq!(claimed.len(), 1, "only tok-a is due, and only once");
    let leased = &claimed[0];
    assert_eq!(leased.order_token, "tok-a");
    let owner = leased.lease.as_ref().expect("leased").owner.clone();

    // Not the owner: refused. The owner: a retry at 3_000.
    let retry = AttemptResult::Retry {
        error: "HTTP 500".into(),
        next_attempt_at: at(3_000),
        at: at(2_100),
    };
    assert!(
        !store
            .jobs
            .finish_attempt(leased.id, "intruder", &retry)
            .await
            .expect("finish")
    );
    assert!(
        store
            .jobs
            .finish_attempt(leased.id, &owner, &retry)
            .await
            .expect("finish")
    );
    let none_yet = store
        .jobs
        .claim_deliveries(&claim_deliveries("w9", 2_900))
        .await
        .expect("claim");
    assert!(none_yet.is_empty(), "{none_yet:?}");
    let due = store
        .jobs
        .claim_deliveries(&claim_deliveries("w9", 5_000))
        .await
        .expect("claim");
    let tokens: Vec<_> = due.iter().map(|d| d.order_token.as_str()).collect();
    assert_eq!(tokens, ["tok-a", "tok-b"], "oldest due first");
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].last_error.as_deref(), Some("HTTP 500"));
    for d in &due {
        let done = AttemptResult::Delivered { at: at(5_100) };
        assert!(
            store
                .jobs
                .finish_attempt(d.id, "w9", &done)
                .await
                .expect("finish")
        );
    }
    let delivered = store
        .jobs
        .get_delivery(leased.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.delivered_at, Some(at(5_100)));
    assert_eq!(delivered.lease, None);
    let later = store
        .jobs
        .claim_deliveries(&claim_deliveries("w9", 99_000))
        .await
        .expect("claim");
    assert!(later.is_empty(), "delivered messages are not sent again");
    let backlog = store.jobs.delivery_backlog().await.expect("backlog");
    assert_eq!(backlog.oldest_pending, None);
}

async fn a_dead_letter_is_counted_listed_and_redriven(store: Store) {
    let run = started(&store, 60_000).await;
    let message = delivery(Some(run.id), "tok-a", 1_000);
    store
        .jobs
        .record_finding(&finding(run.id, "tok-a", true), Some(&message))
        .await
        .expect("record");
    assert!(
        !store
            .jobs
            .redrive(message.id, at(2_000), at(9_000))
            .await
            .expect("redrive"),
        "only a dead letter can be re-driven"
    );
    let claimed = store
        .jobs
        .claim_deliveries(&claim_deliveries("w1", 1_500))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let dead = AttemptResult::Dead {
        error: "HTTP 500".into(),
        at: at(1_600),
    };
    assert!(
        store
            .jobs
            .finish_attempt(message.id, "w1", &dead)
            .await
            .expect("finish")
    );
    let backlog = store.jobs.delivery_backlog().await.expect("backlog");
    assert_eq!(backlog.dead, 1);
    assert_eq!(backlog.oldest_pending, None);
    let listed = store
        .jobs
        .list_deliveries(DeliveryStatus::Dead, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_error.as_deref(), Some("HTTP 500"));
    let never = store
        .jobs
        .claim_deliveries(&claim_deliveries("w1", 99_000))
        .await
        .expect("claim");
    assert!(never.is_empty(), "a dead letter is not retried by itself");

    assert!(
        store
            .jobs
            .redrive(message.id, at(100_000), at(110_000))
            .await
            .expect("redrive")
    );
    let again = store
        .jobs
        .claim_deliveries(&claim_deliveries("w2", 100_000))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, message.id, "the same message id");
    assert_eq!(again[0].dead_after, at(110_000));
    assert_eq!(store.jobs.delivery_backlog().await.expect("b").dead, 0);
}
