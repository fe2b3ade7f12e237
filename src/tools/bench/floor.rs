//! What `bench flow` compares the gateway with, beyond upstream alone: the same Partner-API
//! calls with the durable writes persist-then-call cannot do without ([`FLOOR_COMMITS`], the
//! floor), and those calls and writes made behind one HTTP hop by a bare gateway: an actix-web
//! server of a few handlers that do nothing else (no auth, no quota, no state machine, no
//! notifications, no logging; one connection of its own, the certificate fetched once). The
//! bare gateway is what any gateway built this way pays on this machine, so the gap between it
//! and upstream alone is the least a step can add here, whatever the gateway does.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::flow::ms;
use super::harness::{CARD, EVENT, TICKET};
use crate::payment_crypto::PaymentEncryptor;
use crate::upstream::wire;

/// Durable writes per step in the floor: a create writes before it opens the cart (the
/// idempotency key is taken before anything happens upstream), before it asks for the
/// reservation (the cart id, so a crash can release the hold) and after (its outcome); a
/// payment and a purchase write before their call and after it. Quota claims are left out:
/// the gateway makes each in the statement of the write before its call (or beside it).
pub const FLOOR_COMMITS: [usize; 3] = [3, 2, 2];

const APIKEY: &str = "apikey=sandbox-apikey";

/// Where the floor's purchases write: one connection of its own, one single-row statement a
/// commit, durable (`synchronous_commit` as the server has it), as the gateway's writes are.
pub enum Journal {
    None,
    Postgres(sqlx::PgConnection),
}

impl Journal {
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bench_floor (id bigint PRIMARY KEY, \
             state text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
        )
        .execute(&mut conn)
        .await?;
        Ok(Self::Postgres(conn))
    }

    fn conn(&mut self) -> Option<&mut sqlx::PgConnection> {
        match self {
            Self::None => None,
            Self::Postgres(conn) => Some(conn),
        }
    }

    async fn insert(&mut self, purchase: i64) -> anyhow::Result<()> {
        if let Some(conn) = self.conn() {
            sqlx::query(
                "INSERT INTO bench_floor (id, state) VALUES ($1, 'creating') \
                 ON CONFLICT (id) DO UPDATE SET state = 'creating', updated_at = now()",
            )
            .bind(purchase)
            .execute(conn)
            .await?;
        }
        Ok(())
    }

    async fn write(&mut self, purchase: i64, state: &str) -> anyhow::Result<()> {
        if let Some(conn) = self.conn() {
            sqlx::query("UPDATE bench_floor SET state = $2, updated_at = now() WHERE id = $1")
                .bind(purchase)
                .bind(state)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}

/// A reserved cart, as the later steps need it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Cart {
    pub cart_id: String,
    pub grand: f64,
}

/// Upstream's calls of one purchase, step by step, each with its journal writes.
pub struct Upstream<'a> {
    pub client: &'a reqwest::Client,
    pub base: &'a str,
}

impl Upstream<'_> {
    async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .header("True-Client-IP", "203.0.113.7")
            .send()
            .await?
            .error_for_status()?;
        let text = resp.text().await?;
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// Open a cart session and reserve one ticket.
    pub async fn create(&self, purchase: i64, journal: &mut Journal) -> anyhow::Result<Cart> {
        let (client, base) = (self.client, self.base);
        journal.insert(purchase).await?;
        let token = format!("direct-{purchase}-{}", uuid::Uuid::new_v4().simple());
        let session = Self::call(
            client
                .post(format!("{base}/cart?{APIKEY}"))
                .json(&json!({"token": token})),
        )
        .await?;
        let cart_id = session["cart_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no cart"))?
            .to_owned();
        journal.write(purchase, "cart opened").await?;
        let cart = Self::call(client.put(format!("{base}/cart/tickets?{APIKEY}")).json(
            &json!({"cart_id": cart_id, "event": {"id": EVENT, "tickets": [{"id": TICKET, "quantity": 1}]}}),
        ))
        .await?;
        journal.write(purchase, "reserved").await?;
        let grand = cart["cart"]["totals"]["grand"].as_f64().unwrap_or(25.0);
        Ok(Cart { cart_id, grand })
    }

    /// The certificate the card fields are encrypted under.
    pub async fn certificate(&self, cart: &Cart) -> anyhow::Result<wire::Certificate> {
        let encoded: String =
            url::form_urlencoded::byte_serialize(cart.cart_id.as_bytes()).collect();
        let base = self.base;
        Ok(serde_json::from_value(
            Self::call(
                self.client
                    .get(format!("{base}/certificate?{APIKEY}&cart_id={encoded}")),
            )
            .await?,
        )?)
    }

    /// Encrypt the test card and add the payment.
    pub async fn pay(
        &self,
        purchase: i64,
        cart: &Cart,
        encryptor: &PaymentEncryptor,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        let (number, cin) = (encryptor.encrypt(CARD)?, encryptor.encrypt("123")?);
        let payment = json!({"cart_id": cart.cart_id, "payment": {
            "first_name": "Direct", "last_name": "User", "home_phone": "212-867-5309", "type": "CC", "email_address": "direct@example.com",
            "address": {"line1": "1 Main St", "line2": "", "city": "Los Angeles", "country": {"id": 840}, "region": {"abbrev": "CA"}, "postal_code": "90210"},
            "amount": format!("{:.2}", cart.grand),
            "card": {"number": number, "cin": cin, "encryption_key": encryptor.certificate_id(), "expire_month": 12, "expire_year": 2020, "postal_code": "90210"}}});
        journal.write(purchase, "paying").await?;
        let base = self.base;
        Self::call(
            self.client
                .put(format!("{base}/cart/payment?{APIKEY}"))
                .json(&payment),
        )
        .await?;
        journal.write(purchase, "paid").await
    }

    /// Purchase the cart.
    pub async fn purchase(
        &self,
        purchase: i64,
        cart: &Cart,
        journal: &mut Journal,
    ) -> anyhow::Result<()> {
        journal.write(purchase, "purchasing").await?;
        let base = self.base;
        Self::call(self.client.put(format!("{base}/cart?{APIKEY}")).json(
            &json!({"cart_id": cart.cart_id, "source_account_id": format!("direct{purchase}")}),
        ))
        .await?;
        journal.write(purchase, "purchased").await
    }
}

/// One purchase straight against the sandbox: the milliseconds of each step's HTTP calls and
/// the card fields' encryption (the gateway encrypts on the payment's path too; the
/// certificate, which it caches, is fetched outside the timing), with the `journal`'s durable
/// writes when it has a connection (the floor).
pub async fn direct_purchase(
    upstream: &Upstream<'_>,
    purchase: i64,
    journal: &mut Journal,
) -> anyhow::Result<([f64; 3], wire::Certificate)> {
    let started = Instant::now();
    let cart = upstream.create(purchase, journal).await?;
    let created = ms(started);
    let cert = upstream.certificate(&cart).await?;
    let encryptor = PaymentEncryptor::from_certificate(&cert)?;
    let started = Instant::now();
    upstream.pay(purchase, &cart, &encryptor, journal).await?;
    let paid = ms(started);
    let started = Instant::now();
    upstream.purchase(purchase, &cart, journal).await?;
    Ok(([created, paid, ms(started)], cert))
}

/// The bare gateway's state: upstream, its journal, and the certificate once fetched.
struct Bare {
    client: reqwest::Client,
    base: String,
    journal: Mutex<Journal>,
    encryptor: Mutex<Option<Arc<PaymentEncryptor>>>,
}

impl Bare {
    fn upstream(&self) -> Upstream<'_> {
        Upstream {
            client: &self.client,
            base: &self.base,
        }
    }

    async fn encryptor(&self, cart: &Cart) -> anyhow::Result<Arc<PaymentEncryptor>> {
        let mut cached = self.encryptor.lock().await;
        if let Some(encryptor) = cached.as_ref() {
            return Ok(encryptor.clone());
        }
        let cert = self.upstream().certificate(cart).await?;
        let encryptor = Arc::new(PaymentEncryptor::from_certificate(&cert)?);
        *cached = Some(encryptor.clone());
        Ok(encryptor)
    }
}

fn answer(result: anyhow::Result<Value>) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

async fn bare_create(bare: web::Data<Bare>, purchase: web::Path<i64>) -> HttpResponse {
    let mut journal = bare.journal.lock().await;
    answer(
        async {
            let cart = bare.upstream().create(*purchase, &mut journal).await?;
            Ok(serde_json::to_value(cart)?)
        }
        .await,
    )
}

/// The card is encrypted here, as at the gateway (under the certificate fetched once).
async fn bare_pay(
    bare: web::Data<Bare>,
    purchase: web::Path<i64>,
    cart: web::Json<Cart>,
) -> HttpResponse {
    answer(
        async {
            let encryptor = bare.encryptor(&cart).await?;
            let mut journal = bare.journal.lock().await;
            let upstream = bare.upstream();
            upstream
                .pay(*purchase, &cart, &encryptor, &mut journal)
                .await?;
            Ok(Value::Null)
        }
        .await,
    )
}

async fn bare_purchase(
    bare: web::Data<Bare>,
    purchase: web::Path<i64>,
    cart: web::Json<Cart>,
) -> HttpResponse {
    let mut journal = bare.journal.lock().await;
    answer(
        bare.upstream()
            .purchase(*purchase, &cart, &mut journal)
            .await
            .map(|()| Value::Null),
    )
}

/// A running bare gateway; stopped on drop.
pub struct BareGateway {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl BareGateway {
    /// Serve on a free loopback port, in this process, with actix's default worker count (the
    /// gateway's), writing on a connection of its own to `database_url`.
    pub async fn start(
        client: reqwest::Client,
        upstream: &str,
        database_url: &str,
    ) -> anyhow::Result<Self> {
        let bare = web::Data::new(Bare {
            client,
            base: upstream.to_owned(),
            journal: Mutex::new(Journal::open(database_url).await?),
            encryptor: Mutex::new(None),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(bare.clone())
                .route("/create/{purchase}", web::post().to(bare_create))
                .route("/pay/{purchase}", web::put().to(bare_pay))
                .route("/purchase/{purchase}", web::post().to(bare_purchase))
        })
        .bind(("127.0.0.1", 0))?
        .disable_signals();
        let port = server
            .addrs()
            .first()
            .ok_or_else(|| anyhow::anyhow!("the bare gateway has no address"))?
            .port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            handle,
        })
    }

    /// One purchase through the bare gateway: milliseconds per step as its client waits.
    pub async fn purchase(
        &self,
        client: &reqwest::Client,
        purchase: i64,
    ) -> anyhow::Result<[f64; 3]> {
        let base = &self.base;
        let started = Instant::now();
        let cart: Cart = client
            .post(format!("{base}/create/{purchase}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let created = ms(started);
        let started = Instant::now();
        client
            .put(format!("{base}/pay/{purchase}"))
            .json(&cart)
            .send()
            .await?
            .error_for_status()?;
        let paid = ms(started);
        let started = Instant::now();
        client
            .post(format!("{base}/purchase/{purchase}"))
            .json(&cart)
            .send()
            .await?
            .error_for_status()?;
        Ok([created, paid, ms(started)])
    }
}

impl Drop for BareGateway {
    fn drop(&mut self) {
        // Not awaited: the bench is done with it, and the runtime ends with the bench.
        drop(self.handle.stop(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::bench::harness::{fresh_database, instant_upstream, start_sandbox};

    async fn journalled(database_url: &str, purchase: i64) -> Option<String> {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url)
            .await
            .expect("the test database");
        sqlx::query_scalar("SELECT state FROM bench_floor WHERE id = $1")
            .bind(purchase)
            .fetch_optional(&mut conn)
            .await
            .expect("the journal")
    }

    /// The baselines `bench flow` judges the gateway against do the whole purchase, and the
    /// floor's and the bare gateway's write their journal to the end (a failed call upstream
    /// stops a step before its last write).
    #[tokio::test]
    async fn the_floor_and_the_bare_gateway_buy_and_journal_every_step() {
        let sandbox = start_sandbox(instant_upstream()).await.unwrap();
        let base = sandbox.base_url();
        let database_url = fresh_database().await;
        let client = reqwest::Client::new();
        let upstream = Upstream {
            client: &client,
            base: &base,
        };

        let mut journal = Journal::open(&database_url).await.unwrap();
        let (times, _) = direct_purchase(&upstream, 1, &mut journal).await.unwrap();
        assert!(
            times.iter().all(|ms| *ms > 0.0),
            "every step timed: {times:?}"
        );
        assert_eq!(
            journalled(&database_url, 1).await.as_deref(),
            Some("purchased")
        );

        let (_, _) = direct_purchase(&upstream, 2, &mut Journal::None)
            .await
            .unwrap();
        assert_eq!(
            journalled(&database_url, 2).await,
            None,
            "upstream alone writes nothing"
        );

        let bare = BareGateway::start(client.clone(), &base, &database_url)
            .await
            .unwrap();
        bare.purchase(&client, 3).await.unwrap();
        assert_eq!(
            journalled(&database_url, 3).await.as_deref(),
            Some("purchased")
        );
        drop(bare);
        sandbox.stop().await;
    }
}
