//! The Partner-API client. (Being written.)

pub mod wire;
