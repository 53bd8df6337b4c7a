//! TikTok LIVE "Webcast" protocol for tiklive (work in progress).

pub mod client;
pub mod decode;
pub mod frame;
pub mod mapping;
pub mod proto;
pub mod room;
pub mod sign;
pub mod simulator;
pub mod streak;
