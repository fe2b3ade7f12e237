//! `docs/partner-guide.md` against the gateway it describes: its table of error codes is the
//! code table's own rendering; its request bodies parse as the API parses them; its webhook
//! payload examples have exactly the fields of real messages; and its signature verifiers —
//! the steps as written, and the Node.js and Python examples run as written — accept real
//! signed deliveries and refuse tampered, foreign and stale ones.
//!
//! `BLESS_GUIDE=1 cargo test --test api guide` rewrites the guide's table of codes from the
//! code table (after a change to `ErrorCode::doc`).

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use checkout_gateway::checkout::error::ErrorCode;
use checkout_gateway::http::{parse, problem_types};
use checkout_gateway::jobs::webhook::WebhookSecret;

use crate::helpers::*;
use crate::receiver::{Received, Receiver, SECRET};

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/partner-guide.md");
const TABLE_BEGIN: &str = "<!-- error-codes:begin -->\n";
const TABLE_END: &str = "<!-- error-codes:end -->";
const ADMIN_TOKEN: &str = "test-admin-token";

fn guide() -> String {
    std::fs::read_to_string(GUIDE).expect("docs/partner-guide.md")
}

/// The fenced block right after the line `<!-- {marker} -->`.
fn block_after(text: &str, marker: &str) -> String {
    let at = text
        .find(&format!("<!-- {marker} -->\n"))
        .unwrap_or_else(|| panic!("the guide has no `<!-- {marker} -->`"));
    let mut lines = text[at..].lines().skip(1);
    let fence = lines.next().expect("a fence");
    assert!(fence.starts_with("```"), "{marker}: {fence}");
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_guide_lists_every_error_code_as_the_code_table_says() {
    let text = guide();
    let begin = text.find(TABLE_BEGIN).expect("the table's begin marker") + TABLE_BEGIN.len();
    let end = text.find(TABLE_END).expect("the table's end marker");
    let table = problem_types::guide_table();
    if std::env::var_os("BLESS_GUIDE").is_some() {
        let blessed = format!("{}{table}{}", &text[..begin], &text[end..]);
        std::fs::write(GUIDE, blessed).expect("write the guide");
        return;
    }
    assert_eq!(
        &text[begin..end],
        table,
        "docs/partner-guide.md's table of codes differs from ErrorCode::doc; \
         run `BLESS_GUIDE=1 cargo test --test api guide` to rewrite it"
    );
    for code in ErrorCode::ALL {
        assert!(
            text.contains(&format!("| `{}` |", code.as_str())),
            "{code:?}"
        );
    }
}

#[test]
fn the_guides_request_bodies_are_what_the_api_takes() {
    let text = guide();
    let create = block_after(&text, "request:create_checkout");
    parse::create_request(create.as_bytes()).expect("the guide's create body parses");
    let payment = block_after(&text, "request:payment");
    parse::payment_request(payment.as_bytes()).expect("the guide's payment body parses");
}

/// Every key path in a JSON value (`data.order.order_id`), for comparing shapes.
fn key_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        for (key, v) in map {
            let path = format!("{prefix}{key}");
            key_paths(v, &format!("{path}."), out);
            out.push(path);
        }
    }
    out.sort();
}

fn shape(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    key_paths(value, "", &mut out);
    out
}

/// A signed delivery as the verifiers are handed it.
fn case(secret: &str, id: &str, timestamp: &str, signature: &str, body: &str) -> Value {
    json!({
        "secret": secret,
        "headers": {
            "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature,
        },
        "body": body,
    })
}

/// The guide's numbered steps, done here by hand (no code of the gateway's).
fn verify_by_the_guides_steps(secret: &str, message: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("step 1: base64");
    let content = format!("{}.{}.{}", message.id, message.timestamp, message.raw);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(content.as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let fresh = message
        .timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 300);
    fresh
        && message
            .signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .any(|signature| signature == expected)
}

/// Runs the guide's example for `language` on each case; its verdicts, `true` for valid.
fn run_example(language: &str, cases: &[Value]) -> Option<Vec<bool>> {
    let text = guide();
    let (program, interpreter, flag) = match language {
        "python" => (
            block_after(&text, "verifier:python")
                + "\nimport json, sys\n\
                   for case in json.load(sys.stdin):\n    \
                   ok = verify_webhook(case['secret'], case['headers'], case['body'].encode())\n    \
                   print('valid' if ok else 'invalid')\n",
            "python3",
            "-c",
        ),
        "node" => (
            block_after(&text, "verifier:node")
                + "\nlet input = '';\n\
                   process.stdin.on('data', (chunk) => { input += chunk; });\n\
                   process.stdin.on('end', () => {\n  \
                   for (const c of JSON.parse(input)) {\n    \
                   const ok = verifyWebhook(c.secret, c.headers, Buffer.from(c.body, 'utf8'));\n    \
                   console.log(ok ? 'valid' : 'invalid');\n  }\n});\n",
            "node",
            "-e",
        ),
        other => panic!("{other}"),
    };
    let mut child = match Command::new(interpreter)
        .args([flag, &program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            // Python is on every machine this project runs on; Node.js may not be.
            assert_ne!(language, "python", "python3 could not run: {e}");
            eprintln!("{interpreter} not found: the guide's {language} verifier not run ({e})");
            return None;
        }
    };
    let input = serde_json::to_vec(cases).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the guide's {language} verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l == "valid")
            .collect(),
    )
}

/// Both kinds of message the gateway sends, from a real run: a purchase whose answer was lost
/// confirmed later (`checkout.purchase_confirmed`), then the unredeemed-orders job finding
/// that order (`order.unredeemed`).
async fn real_messages() -> Vec<Received> {
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    let app = spawn_app_with(&[
        ("admin.token", ADMIN_TOKEN),
        ("unredeemed.webhook_url", url.as_str()),
        ("unredeemed.webhook_secret", SECRET),
        ("unredeemed.retry_initial_ms", "100"),
        ("unredeemed.queries", "days_from_purchase=1"),
        ("checkout.unconfirmed_after_secs", "30"),
        ("sweeper.interval_secs", "1"),
    ])
    .await;
    let id = app.paid("guide").await;
    app.sandbox().inject(fault("unredeemed:status=503:1000000"));
    app.sandbox().inject(fault("purchase:drop_after_commit:1"));
    let _ = app.purchase("guide", &id).await;
    app.advance(31);
    app.wait_for_state(&id, "guide", "purchase_unconfirmed")
        .await;
    app.sandbox().clear_faults();
    app.advance(61);
    app.wait_for_state(&id, "guide", "purchased").await;
    receiver
        .wait_until("the purchase's confirmation", |seen| {
            seen.iter()
                .any(|m| m.body["type"] == "checkout.purchase_confirmed")
        })
        .await;
    let run = app
        .client
        .request(
            Method::POST,
            format!("{}/admin/jobs/unredeemed/run", app.admin_address),
        )
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200);
    receiver
        .wait_until("the unredeemed order", |seen| {
            seen.iter().any(|m| m.body["type"] == "order.unredeemed")
        })
        .await;
    receiver.seen()
}

#[tokio::test]
async fn the_guides_webhook_schemas_and_verifiers_match_real_deliveries() {
    let messages = real_messages().await;
    let text = guide();
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for kind in ["order.unredeemed", "checkout.purchase_confirmed"] {
        let message = messages
            .iter()
            .find(|m| m.body["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} among {messages:?}"));
        assert!(
            message.signature_valid,
            "the receiver's own check: {message:?}"
        );
        let documented: Value =
            serde_json::from_str(&block_after(&text, &format!("webhook:{kind}")))
                .expect("the guide's example is JSON");
        assert_eq!(
            shape(&documented),
            shape(&message.body),
            "{kind}: the guide's fields"
        );
        assert!(verify_by_the_guides_steps(SECRET, message), "{kind}");

        let (id, timestamp, raw) = (&message.id, &message.timestamp, &message.raw);
        cases.push(case(SECRET, id, timestamp, &message.signature, raw));
        expected.push(true);
        // A rotated secret: the gateway's signature second in the list.
        let both = format!("v1,{} {}", STANDARD.encode([7u8; 32]), message.signature);
        cases.push(case(SECRET, id, timestamp, &both, raw));
        expected.push(true);
        let tampered = raw.replacen("\"data\"", "\"data\" ", 1);
        cases.push(case(SECRET, id, timestamp, &message.signature, &tampered));
        expected.push(false);
        let other_secret = format!("whsec_{}", STANDARD.encode([9u8; 32]));
        cases.push(case(&other_secret, id, timestamp, &message.signature, raw));
        expected.push(false);
        // Rightly signed, but ten minutes old: a replay.
        let stale = (chrono::Utc::now().timestamp() - 600).to_string();
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let signed = secret.sign(id, stale.parse().unwrap(), raw);
        cases.push(case(SECRET, id, &stale, &signed, raw));
        expected.push(false);
    }
    for language in ["python", "node"] {
        if let Some(verdicts) = run_example(language, &cases) {
            assert_eq!(verdicts, expected, "the guide's {language} verifier");
        }
    }
}
