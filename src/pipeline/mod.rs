//! The domain: plain, synchronous, testable functions. The command line calls
//! them directly; the console runs the same functions off the render loop.
//! Nothing here imports `app` or `views`.
pub mod alerts;
pub mod attach;
pub mod audit;
pub mod backup;
pub mod baseline;
pub mod buildid;
pub mod checkout;
pub mod common;
pub mod config;
pub mod deploy;
pub mod drift;
pub mod drill;
pub mod evidence;
pub mod gate;
pub mod handoff;
pub mod jobs;
pub mod lock;
pub mod main_index;
pub mod playbook;
pub mod protect;
pub mod record;
pub mod release;
pub mod repo;
pub mod rollback;
pub mod runner;
pub mod script_effects;
pub mod scripts;
pub mod state;
pub mod status;
pub mod tags;
pub mod team;
pub mod verify;
pub mod watch;

/// A guardrail said no (not a release manager, lock held, evidence not
/// ready, no confirmation): exit 3. The message is one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Refused {
    /// Exit 3 (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        common::exit::REFUSED
    }
}

/// A step could not run (script missing or not executable, timeout,
/// cancelled): exit 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StepFailed(pub String);

impl StepFailed {
    /// Exit 4 (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        common::exit::STEP_FAILED
    }
}
