//! The postgres implementation of the store traits. (Being written.)

use super::{Store, StoreResult};

pub async fn connect(_url: &str) -> StoreResult<Store> {
    unimplemented!("postgres store")
}
