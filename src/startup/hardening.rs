//! What a process that holds card data in memory asks of the kernel before it serves: no core
//! dump (a crash would otherwise write the card numbers and CVVs still in its buffers — the
//! web server's read buffers among them — to disk), and no other process of the same user may
//! attach to it or read its memory (`/proc/<pid>/mem`). Linux only; elsewhere nothing.

/// Turns core dumps off and makes the process non-dumpable. Failures are logged, not fatal: a
/// container may forbid them, and the gateway still works.
pub fn forbid_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `setrlimit` reads the struct it is given, which lives across the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not turn core dumps off");
        }
        // SAFETY: `PR_SET_DUMPABLE` takes an integer argument and touches no memory of ours.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not make the process non-dumpable");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_hardened_process_dumps_no_core() {
        // Run in a child of the test binary, so that the test process itself stays
        // dumpable: `CHECKOUT_GATEWAY_HARDENING_CHILD` makes the child harden and report.
        if std::env::var_os("CHECKOUT_GATEWAY_HARDENING_CHILD").is_some() {
            super::forbid_core_dumps();
            // SAFETY: `PR_GET_DUMPABLE` reads a flag of the calling process.
            let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
            let mut core = libc::rlimit {
                rlim_cur: 1,
                rlim_max: 1,
            };
            // SAFETY: `getrlimit` writes into the struct it is given, which outlives the call.
            let read = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut core) };
            assert_eq!((dumpable, read, core.rlim_cur, core.rlim_max), (0, 0, 0, 0));
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "startup::hardening::tests::a_hardened_process_dumps_no_core",
            ])
            .env("CHECKOUT_GATEWAY_HARDENING_CHILD", "1")
            // Its harness's own report would read as a second run of this suite.
            .stdout(std::process::Stdio::null())
            .status()
            .expect("child test");
        assert!(status.success());
    }
}
