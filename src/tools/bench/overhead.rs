//! Part 1, gateway overhead: `GET /v1/events/{id}` (cached) and `GET /v1/checkouts/{id}`
//! through a `serve` process, against a bare actix-web handler in this process returning the
//! same bytes with the same content type (the baseline), both loaded by `wrk` on loopback with
//! the same threads, connections and duration.

use std::net::TcpListener;
use std::process::Command;

use actix_web::{App, HttpResponse, HttpServer, web};

use super::Sizes;
use super::harness::{EVENT, Env};
use super::harness::{Stage, instant_upstream};

/// What `wrk` reported for one target.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WrkFigures {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx answers plus socket errors: a run with any is not a valid figure.
    pub errors: u64,
}

/// The bytes a gateway answered, for the baseline to answer the same.
#[derive(Clone)]
struct Canned {
    content_type: String,
    body: web::Bytes,
}

pub async fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<()> {
    let Stage {
        sandbox,
        database_url: _,
        replica,
    } = Stage::start(env, instant_upstream(), &[]).await?;
    let token = env.token("bench-overhead")?;
    let checkout = env.create(&replica.base, &token, 20).await?;
    let targets = [
        (
            "GET /v1/events/{id} (cached)",
            format!("/v1/events/{EVENT}"),
        ),
        (
            "GET /v1/checkouts/{id}",
            format!("/v1/checkouts/{checkout}"),
        ),
    ];
    println!();
    println!(
        "## Gateway overhead (wrk, {} threads, {} connections, {} s each, loopback)",
        wrk_threads(),
        sizes.connections,
        sizes.duration_secs
    );
    println!();
    println!(
        "| endpoint | gateway rps | bare handler rps | throughput ratio | gateway p50 / p99 (ms) | bare p50 / p99 (ms) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut figures = Vec::new();
    for (name, path) in targets {
        let url = format!("{}{path}", replica.base);
        let canned = fetch(env, &url, &token).await?;
        // Warm both (connections, caches) before measuring.
        wrk(&url, &token, sizes, 1)?;
        let gateway = wrk(&url, &token, sizes, sizes.duration_secs)?;
        let (bare_url, server) = bare_server(canned)?;
        let bare_task = tokio::spawn(server);
        let bare_path = format!("{bare_url}{path}");
        wrk(&bare_path, &token, sizes, 1)?;
        let bare = wrk(&bare_path, &token, sizes, sizes.duration_secs)?;
        bare_task.abort();
        anyhow::ensure!(
            gateway.errors == 0 && bare.errors == 0,
            "{name}: errors during the run (gateway {}, bare {})",
            gateway.errors,
            bare.errors
        );
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} % | {:.2} / {:.2} | {:.2} / {:.2} |",
            gateway.requests_per_second,
            bare.requests_per_second,
            100.0 * gateway.requests_per_second / bare.requests_per_second.max(1e-9),
            gateway.p50_ms,
            gateway.p99_ms,
            bare.p50_ms,
            bare.p99_ms
        );
        figures.push(serde_json::json!({ "endpoint": name, "gateway": gateway, "bare": bare }));
    }
    drop(replica);
    sandbox.stop().await;
    super::results::write(
        "overhead",
        &serde_json::json!({
            "connections": sizes.connections,
            "duration_secs": sizes.duration_secs,
            "endpoints": figures,
        }),
    )?;
    Ok(())
}

async fn fetch(env: &Env, url: &str, token: &str) -> anyhow::Result<Canned> {
    let resp = env
        .client
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?;
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    Ok(Canned {
        content_type,
        body: resp.bytes().await?,
    })
}

/// The baseline: the same bytes from one handler, as many workers as the gateway's public
/// listener (actix's default, one per core).
fn bare_server(canned: Canned) -> anyhow::Result<(String, actix_web::dev::Server)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let canned = web::Data::new(canned);
    let server = HttpServer::new(move || {
        App::new().app_data(canned.clone()).default_service(web::to(
            |canned: web::Data<Canned>| async move {
                HttpResponse::Ok()
                    .content_type(canned.content_type.as_str())
                    .body(canned.body.clone())
            },
        ))
    })
    .listen(listener)?
    .disable_signals()
    .run();
    Ok((base, server))
}

fn wrk_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `wrk --latency` and parse its report.
pub fn wrk(url: &str, token: &str, sizes: &Sizes, secs: u64) -> anyhow::Result<WrkFigures> {
    let output = Command::new("wrk")
        .args([
            "--latency",
            "-t",
            &wrk_threads().to_string(),
            "-c",
            &sizes.connections.to_string(),
            "-d",
            &format!("{secs}s"),
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .output()
        .map_err(|e| anyhow::anyhow!("running wrk (apt-get install wrk): {e}"))?;
    anyhow::ensure!(output.status.success(), "wrk failed: {output:?}");
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
}

pub fn parse_wrk(report: &str) -> anyhow::Result<WrkFigures> {
    let mut figures = WrkFigures::default();
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rps] => figures.requests_per_second = rps.parse()?,
            ["50%", latency] => figures.p50_ms = millis(latency)?,
            ["99%", latency] => figures.p99_ms = millis(latency)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => figures.errors += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                figures.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    anyhow::ensure!(figures.requests_per_second > 0.0, "no rate in: {report}");
    Ok(figures)
}

/// `wrk`'s latency with its unit (`us`, `ms`, `s`, `m`) in milliseconds.
fn millis(value: &str) -> anyhow::Result<f64> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow::anyhow!("no unit: {value}"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        other => anyhow::bail!("unknown unit {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wrk_latency_report() {
        let report = "Running 1s test @ http://127.0.0.1:1/\n  2 threads and 8 connections\n\
            Latency Distribution\n     50%  512.00us\n     75%    1.02ms\n     90%    2.00ms\n     99%    1.50s\n\
            10000 requests in 1.00s, 1.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n\
            Non-2xx or 3xx responses: 3\nRequests/sec:  10000.50\nTransfer/sec:      1.00MB\n";
        let figures = parse_wrk(report).unwrap();
        assert_eq!(figures.requests_per_second, 10000.5);
        assert_eq!(figures.p50_ms, 0.512);
        assert_eq!(figures.p99_ms, 1500.0);
        assert_eq!(figures.errors, 6);
    }
}
