//! Wire types of the Partner API, exactly as the seed docs show them.
//!
//! Both the client (deserialising) and the sandbox (serialising) use these, and both are pinned
//! by the recorded payloads in `tests/fixtures/upstream/`, so they cannot agree on a mistake.
//! Money is a JSON number upstream; it becomes integer cents at the domain boundary.
//! Nothing here is a domain type: `checkout` converts with `TryFrom`/functions, never exposes these.
//!
//! Reading is tolerant ([`super::de`]): only what the gateway uses is required; numbers may come
//! as strings and the reverse; optional parts that are missing, null or unreadable are `None`
//! or left out; unknown fields are ignored. Writing (the sandbox) keeps the docs' shapes.
//!
//! # Layout
//! One submodule per part of the API, all re-exported here (`wire::CartResponse`):
//! [`event`], [`cart`], [`payment`], [`order`], and [`protocol`] (polling, error and fault
//! bodies, upstream's [`codes`], the OAuth token).

pub mod cart;
pub mod event;
pub mod order;
pub mod payment;
pub mod protocol;

pub use self::cart::*;
pub use self::event::*;
pub use self::order::*;
pub use self::payment::*;
pub use self::protocol::*;

/// A count upstream leaves out means one (a quantity, a minimum, a step).
fn one() -> u32 {
    1
}
