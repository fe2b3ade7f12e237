//! `checkout-gateway serve` as a child process, for the tests that need several replicas or a
//! real kill: started on free ports, waited for until `/readyz` answers, killed when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `serve` process.
pub(crate) struct Replica {
    pub(crate) child: Child,
    pub(crate) address: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `serve` with the local profile, both listeners on free ports and `env` on top, and
/// wait until it answers. `REPLICA_LOGS=<filter>` shows its logs when a test needs explaining.
pub(crate) async fn serve(env: &[(&str, String)]) -> Replica {
    let port = free_port();
    let quiet = crate::helpers::quiet_maintenance_hours();
    let logs = std::env::var("REPLICA_LOGS").ok();
    let child = Command::new(env!("CARGO_BIN_EXE_checkout-gateway"))
        .arg("serve")
        .env("APP_ENV", "local")
        .env("APP__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("APP__ADMIN__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("APP__MAINTENANCE__START_HOUR", quiet.0.to_string())
        .env("APP__MAINTENANCE__END_HOUR", quiet.1.to_string())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", logs.as_deref().unwrap_or("warn"))
        .stdout(Stdio::null())
        .stderr(if logs.is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("serve starts");
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "replica did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Replica { child, address }
}
