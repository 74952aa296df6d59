//! Where collected data goes besides the local store: Redis (each tick's host snapshot).

pub mod redis;
