//! `/v1/orders`: the user's orders, newest first, cursor-paginated.

use actix_web::{HttpResponse, get, web};

use super::auth::AuthUser;
use super::dto::{OrderBody, OrderList, OrdersQuery};
use super::openapi::problems::{OrderListProblems, OrderProblems};
use super::openapi::{Routes, examples};
use super::problem::ApiError;
use super::state::AppState;
use crate::clock::{from_millis, to_millis};
use crate::ids::OrderId;
use crate::store::OrderCursor;

pub fn routes(routes: &mut Routes) {
    routes.service(list_orders).service(get_order);
}

/// Cursors are opaque to partners: `millis.order_id` of the last order shown. Every string
/// of the pattern documented on `OrdersQuery::cursor` decodes, so the schema promises no more
/// than the handler accepts.
fn encode_cursor(c: &OrderCursor) -> String {
    format!("{}.{}", to_millis(c.created_at), c.id)
}

fn decode_cursor(s: &str) -> Option<OrderCursor> {
    let (ms, id) = s.split_once('.')?;
    let digits = !ms.is_empty() && ms.len() <= 15 && ms.bytes().all(|b| b.is_ascii_digit());
    Some(OrderCursor {
        created_at: from_millis(digits.then(|| ms.parse().ok()).flatten()?),
        id: id.parse().ok()?,
    })
}

/// List the user's orders
///
/// Newest first, cursor-paginated: pass `next_cursor` back as `cursor` until it is null.
#[utoipa::path(
    tag = "orders",
    params(OrdersQuery),
    responses(
        (status = 200, description = "One page of orders", body = OrderList, example = json!(examples::order_list())),
        OrderListProblems,
    )
)]
#[get("/v1/orders")]
async fn list_orders(
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

/// Read one order
#[utoipa::path(
    tag = "orders",
    params(("order_id" = String, Path, description = "An `ord_…` id", example = "ord_0190b8f3a1b27c4d8e9f0a1b2c3d4e5f")),
    responses(
        (status = 200, description = "The order", body = OrderBody, example = json!(examples::order())),
        OrderProblems,
    )
)]
#[get("/v1/orders/{order_id}")]
async fn get_order(
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
        for bad in [
            "garbage",
            "",
            ".",
            "12",
            "x.ord_1",
            "1.chk_0190b8f1c2d37a4e9b5f6a7c8d9e0f12",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
