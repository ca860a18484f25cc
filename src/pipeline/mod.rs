//! The domain: plain, synchronous, testable functions. The command line calls
//! them directly; the console runs the same functions off the render loop.
//! Nothing here imports `app` or `views`.
pub mod audit;
pub mod baseline;
pub mod checkout;
pub mod config;
pub mod evidence;
pub mod handoff;
pub mod lock;
pub mod package;
pub mod repo;
pub mod runner;
pub mod state;
pub mod status;
pub mod tags;
