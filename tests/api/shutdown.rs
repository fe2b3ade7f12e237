//! SIGTERM: a replica stops taking work, hands every checkout it drives back (its lease
//! released at a persisted point) and exits cleanly; another replica finishes them long
//! before the dead replica's leases would have run out.

use std::time::{Duration, Instant};

use reqwest::Method;

use checkout_gateway::sandbox::SandboxConfig;

use crate::replicas::Cluster;

/// Leases far longer than the test's patience: only a hand-back lets another replica in.
const LONG_LEASE: &str = "300";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_checkouts_back_and_another_replica_finishes_them() {
    // Slow polling upstream, so the signal lands while operations wait on their polls.
    let cluster = Cluster::with_sandbox(SandboxConfig {
        force_polling: true,
        poll_wait_secs: 2.0,
        poll_rounds: 3,
        ..SandboxConfig::default()
    })
    .await;
    let lease = [("APP__CHECKOUT__LEASE_SECS", LONG_LEASE)];
    let survivor = cluster.replica_with(&lease).await;
    let mut leaving = cluster.replica_with(&lease).await;

    let buyer_id = cluster.create(&survivor, "sigterm-buyer", 20).await;
    cluster
        .settle(&survivor, "sigterm-buyer", &buyer_id, &["reserved"])
        .await;
    cluster.pay(&survivor, "sigterm-buyer", &buyer_id).await;
    let (status, _) = cluster
        .call(
            &leaving,
            Method::POST,
            &format!("/v1/checkouts/{buyer_id}/purchase"),
            "sigterm-buyer",
            0,
        )
        .await;
    assert_eq!(status, 202, "the purchase is still polling");
    let reserver_id = cluster.create(&leaving, "sigterm-reserver", 0).await;

    let pid = leaving.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = wait_for_exit(&mut leaving.child, Duration::from_secs(60)).await;
    assert!(exit.success(), "graceful exit, got {exit:?}");

    // Nothing stays leased by the stopped replica: the survivor finishes both well within
    // one lease (300 s).
    let started = Instant::now();
    let purchased = cluster
        .settle(&survivor, "sigterm-buyer", &buyer_id, &["purchased"])
        .await;
    assert!(purchased["order"]["order_token"].is_string(), "{purchased}");
    cluster
        .settle(&survivor, "sigterm-reserver", &reserver_id, &["reserved"])
        .await;
    assert!(started.elapsed() < Duration::from_secs(60));

    let stats = cluster.sandbox.stats();
    assert_eq!(stats.orders, 1, "{stats:?}");
    cluster.assert_clean_protocol();
}

/// Poll the child until it exits (a deadline, not a sleep-and-hope).
async fn wait_for_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the replica did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
