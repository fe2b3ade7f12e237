//! The chromedriver process the tests' browser sessions go through: found on `PATH` with
//! Chromium, started on a free loopback port, shared by the tests that run at the same time,
//! and stopped (its browsers with it) when the last of them lets go.
//!
//! Where either program is missing, a test is skipped with a loud message, or fails when
//! `REQUIRE_BROWSER=1` (CI installs Debian's `chromium` and `chromium-driver` and sets it).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long chromedriver gets to answer `/status` after it starts.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A running chromedriver; stopped when dropped.
pub struct Chromedriver {
    child: Mutex<Child>,
    address: SocketAddr,
    /// The browser chromedriver starts.
    pub chromium: PathBuf,
}

impl Chromedriver {
    /// The chromedriver shared by the tests running now, started if none runs; `None` when
    /// the browser is not installed and not required (the test then returns, skipped).
    ///
    /// Shared through a `Weak`: a `static` holding the process would never be dropped (Rust
    /// runs no destructor for statics), leaving chromedriver running after the tests.
    pub fn shared() -> Option<Arc<Self>> {
        static SHARED: Mutex<Weak<Chromedriver>> = Mutex::new(Weak::new());
        let (chromium, chromedriver) = match installed() {
            Ok(found) => found,
            Err(missing) => return skip_or_fail(&missing),
        };
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(running) = shared.upgrade() {
            return Some(running);
        }
        let started = Arc::new(Self::start(&chromedriver, chromium));
        *shared = Arc::downgrade(&started);
        Some(started)
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn start(program: &Path, chromium: PathBuf) -> Self {
        // A free port can be taken by someone else between here and chromedriver's bind; one
        // more try then.
        let logs = crate::target_dir().join("browser-logs");
        std::fs::create_dir_all(&logs).expect("the browser log folder");
        let mut last_error = String::new();
        for _ in 0..3 {
            let address = free_port();
            // Its output goes to a file: a pipe nobody reads would stall it once full.
            let log = logs.join(format!("chromedriver-{}.log", address.port()));
            let output = File::create(&log).expect("the chromedriver log file");
            let mut child = Command::new(program)
                .arg(format!("--port={}", address.port()))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(output.try_clone().expect("the log file, twice"))
                .stderr(output)
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
            match wait_ready(&mut child, address, &log) {
                Ok(()) => {
                    return Self {
                        child: Mutex::new(child),
                        address,
                        chromium,
                    };
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = e;
                }
            }
        }
        panic!("chromedriver did not start: {last_error}")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // `/shutdown` ends the sessions still open (their Chromium processes too), which a
        // kill would leave running; the kill is for a chromedriver that does not answer.
        let _ = http_get(self.address, "/shutdown");
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `chromium` and `chromedriver` on `PATH`, or what is missing.
fn installed() -> Result<(PathBuf, PathBuf), String> {
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    let chromedriver = on_path("chromedriver");
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Ok((chromium, chromedriver)),
        (chromium, chromedriver) => {
            let missing: Vec<&str> = [("chromium", chromium), ("chromedriver", chromedriver)]
                .into_iter()
                .filter(|(_, found)| found.is_none())
                .map(|(name, _)| name)
                .collect();
            Err(missing.join(" and "))
        }
    }
}

fn skip_or_fail(missing: &str) -> Option<Arc<Chromedriver>> {
    let install = "install Debian's packages: `apt-get install chromium chromium-driver` \
                   (.ci/run does this)";
    assert!(
        std::env::var_os("REQUIRE_BROWSER").is_none_or(|v| v != "1"),
        "the browser tests need {missing} on PATH (REQUIRE_BROWSER=1): {install}"
    );
    // Written to stderr itself, not through `eprintln!`, which the test harness captures and
    // shows only for failed tests: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n########## skipped: chromium not installed ({missing} not on PATH) ##########\n\
         ########## {install}; REQUIRE_BROWSER=1 makes this a failure ##########\n"
    );
    None
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address")
}

/// Polls `/status` until chromedriver says it is ready; what it wrote if it exits first.
fn wait_ready(child: &mut Child, address: SocketAddr, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("it exited ({status}): {output}"));
        }
        if http_get(address, "/status").is_ok_and(|body| body.contains("\"ready\":true")) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no ready /status on {address} within {READY_WITHIN:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bare HTTP/1.1 GET, so that starting and stopping need no async runtime (a `Drop` may run
/// where none is). chromedriver refuses HTTP/1.0 and keeps the connection open whatever the
/// request says, so the body is read by its `Content-Length`.
fn http_get(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return Ok(body.to_owned());
            }
        }
    }
    Ok(String::from_utf8_lossy(&received).into_owned())
}
