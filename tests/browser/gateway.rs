//! The gateway under test: `tests/api`'s `TestApp` (in-process, a fresh Postgres database, the
//! in-process sandbox), listening on a loopback port Chromium loads pages from.

use std::net::TcpListener;

use crate::helpers::{TestApp, spawn_app_with};

/// A gateway on a port chosen before it starts, so that its configuration can name its own
/// origin (`http://127.0.0.1:<port>`, given to `config`): the hosted page's return URLs must
/// be allow-listed by origin. `config` returns more configuration keys and values.
pub async fn gateway(config: impl FnOnce(&str) -> Vec<(String, String)>) -> TestApp {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let origin = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let extra = config(&origin);
    let mut overrides: Vec<(&str, &str)> = vec![("http.listen", listen.as_str())];
    overrides.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let app = spawn_app_with(&overrides).await;
    assert_eq!(app.address, origin);
    app
}
