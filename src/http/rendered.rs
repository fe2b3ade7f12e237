//! JSON bodies rendered once and served again. A cached read is the hot path of a sale (every
//! app screen shows the event; apps poll their checkout): rendering the DTO and serialising it
//! was most of such a read's own work. A body is reused while what it was rendered from is
//! the same value in memory — the same `Arc` (the caches behind these reads never change a
//! value in place; a change is a new one) — and the `key` of whatever else it depends on
//! (the time-dependent parts of an event) is unchanged.

use std::hash::Hash;
use std::sync::Arc;

use actix_web::web::Bytes;
use serde::Serialize;

use super::problem::ApiError;
use crate::checkout::error::ErrorCode;

/// More than either read cache keeps: past it the least used renderings are dropped and
/// rebuilt on use.
const MAX_RENDERED: u64 = 10_000;

/// The body last rendered for each `Id`, from a `T`, under a `K`.
pub struct Rendered<Id, T, K = ()> {
    bodies: moka::sync::Cache<Id, Arc<Rendering<T, K>>>,
    /// What is rendered, for the log line of a failure ("an event").
    what: &'static str,
}

struct Rendering<T, K> {
    source: Arc<T>,
    key: K,
    body: Bytes,
}

impl<Id, T, K> Rendered<Id, T, K>
where
    Id: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    K: PartialEq + Send + Sync + 'static,
{
    pub fn new(what: &'static str) -> Self {
        Self {
            bodies: moka::sync::Cache::new(MAX_RENDERED),
            what,
        }
    }

    /// The body of `view` of `source`: the one rendered before for `id`, when it was rendered
    /// from this very `source` under an equal `key`; else rendered now and kept.
    pub fn body<B: Serialize>(
        &self,
        id: &Id,
        source: &Arc<T>,
        key: K,
        view: impl FnOnce(&T) -> B,
    ) -> Result<Bytes, ApiError> {
        if let Some(r) = self.bodies.get(id)
            && Arc::ptr_eq(&r.source, source)
            && r.key == key
        {
            return Ok(r.body.clone());
        }
        let body = serde_json::to_vec(&view(source)).map_err(|e| {
            tracing::error!(error = %e, what = self.what, "rendering a body");
            ApiError::new(ErrorCode::Internal, "the answer could not be rendered")
        })?;
        let body = Bytes::from(body);
        self.bodies.insert(
            id.clone(),
            Arc::new(Rendering {
                source: source.clone(),
                key,
                body: body.clone(),
            }),
        );
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct View {
        name: String,
        at: u32,
    }

    fn view(name: &str, at: u32) -> View {
        View {
            name: name.to_owned(),
            at,
        }
    }

    #[test]
    fn the_same_value_under_the_same_key_is_served_as_rendered() {
        let rendered: Rendered<u32, String, u32> = Rendered::new("a test value");
        let value = Arc::new("a".to_owned());
        let mut renders = 0;
        for _ in 0..3 {
            let body = rendered.body(&1, &value, 7, |v| {
                renders += 1;
                view(v, 7)
            });
            assert_eq!(body.expect("rendered").as_ref(), br#"{"name":"a","at":7}"#);
        }
        assert_eq!(renders, 1);
    }

    #[test]
    fn a_new_value_or_key_is_rendered_again() {
        let rendered: Rendered<u32, String, u32> = Rendered::new("a test value");
        let first = Arc::new("a".to_owned());
        rendered
            .body(&1, &first, 7, |v| view(v, 7))
            .expect("rendered");
        // Equal text, but another value: a cache replaced its entry.
        let second = Arc::new("a".to_owned());
        let mut renders = 0;
        let again = rendered.body(&1, &second, 7, |v| {
            renders += 1;
            view(v, 8)
        });
        assert_eq!(again.expect("rendered").as_ref(), br#"{"name":"a","at":8}"#);
        let later = rendered.body(&1, &second, 9, |v| {
            renders += 1;
            view(v, 9)
        });
        assert_eq!(later.expect("rendered").as_ref(), br#"{"name":"a","at":9}"#);
        assert_eq!(renders, 2);
    }
}
