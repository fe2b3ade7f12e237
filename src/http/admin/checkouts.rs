//! `GET /admin/checkouts`: checkouts by state, for operators (any user's).

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AdminState, authorize, internal, limit};
use crate::checkout::state::CheckoutState;
use crate::http::dto::CheckoutBody;
use crate::http::openapi::problems::AdminCheckoutsProblems;
use crate::http::openapi::{Routes, examples};
use crate::http::problem::ApiError;

pub fn routes(routes: &mut Routes) {
    routes.service(list_checkouts);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckoutsQuery {
    /// Comma-separated states (e.g. `purchase_unconfirmed,failed`); every state when absent.
    /// Internal states are named too: `purchase_unknown` (shown to partners as `purchasing`).
    #[param(example = "purchase_unconfirmed")]
    state: Option<String>,
    /// At most this many, newest first (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    limit: Option<u32>,
}

/// Checkouts of every user, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AdminCheckoutList)]
pub struct CheckoutList {
    checkouts: Vec<CheckoutBody>,
}

/// Checkouts by state
///
/// Any user's checkouts in the given states, as partners see them.
#[utoipa::path(
    tag = "checkouts",
    params(CheckoutsQuery),
    responses(
        (status = 200, description = "The checkouts", body = CheckoutList,
            example = json!({"checkouts": [examples::checkout("payment_accepted")]})),
        AdminCheckoutsProblems,
    )
)]
#[get("/admin/checkouts")]
async fn list_checkouts(
    req: HttpRequest,
    state: web::Data<AdminState>,
    query: web::Query<CheckoutsQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let states = match query.state.as_deref() {
        None | Some("") => CheckoutState::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| {
                CheckoutState::parse(s.trim())
                    // The value is not repeated back: whatever was typed there stays out.
                    .ok_or_else(|| {
                        ApiError::field(
                            "state",
                            format!(
                                "must be states from: {}",
                                CheckoutState::ALL.map(CheckoutState::as_str).join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let found = state
        .context
        .store
        .checkouts
        .list_by_state(&states, limit(query.limit))
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok().json(CheckoutList {
        checkouts: found.iter().map(|c| CheckoutBody::new(c, None)).collect(),
    }))
}
