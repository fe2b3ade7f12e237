//! `/v1/orders`: the user's orders, newest first, cursor-paginated.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::auth::AuthUser;
use super::dto::{OrderBody, OrderList, OrdersQuery};
use super::problem::ApiError;
use super::state::AppState;
use crate::clock::{from_millis, to_millis};
use crate::ids::OrderId;
use crate::store::OrderCursor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/orders", web::get().to(list))
        .route("/v1/orders/{order_id}", web::get().to(get));
}

/// Cursors are opaque to partners: base64 of `millis:order_id`.
fn encode_cursor(c: &OrderCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", to_millis(c.created_at), c.id))
}

fn decode_cursor(s: &str) -> Option<OrderCursor> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let (ms, id) = raw.split_once(':')?;
    Some(OrderCursor {
        created_at: from_millis(ms.parse().ok()?),
        id: id.parse().ok()?,
    })
}

async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let before = match query.cursor.as_deref() {
        Some(c) => Some(
            decode_cursor(c)
                .ok_or_else(|| ApiError::field("cursor", "not a cursor this API issued"))?,
        ),
        None => None,
    };
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
    }
    let page = state.service.orders(&user.0, before, limit).await?;
    Ok(HttpResponse::Ok().json(OrderList {
        orders: page.orders.iter().map(OrderBody::from).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: OrderId = path.parse().map_err(|_| ApiError::not_found())?;
    let order = state.service.order(&user.0, id).await?;
    Ok(HttpResponse::Ok().json(OrderBody::from(&order)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = OrderCursor {
            created_at: from_millis(1_700_000_000_123),
            id: OrderId::new(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        assert_eq!(decode_cursor("garbage"), None);
    }
}
