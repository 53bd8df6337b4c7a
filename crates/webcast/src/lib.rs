//! TikTok LIVE "Webcast" protocol for tiklive (work in progress).

pub mod decode;
pub mod frame;
pub mod mapping;
pub mod proto;
pub mod streak;
