//! guardrail's integration and end-to-end tests, built as one test binary.
//!
//! Each file beside this one is a module of it, with the helpers of
//! `common/` shared. One binary links once: thirty binaries, each with
//! the whole dependency tree linked in, took minutes and gigabytes of disk
//! on a CI machine for nothing. Run one file's tests with
//! `cargo test --test integration review::`.

mod common;

mod alerts;
mod audit;
mod backup;
mod baseline;
mod buildid;
mod checkout;
mod cli_audit_lock;
mod closed_pipe;
mod completions;
mod config;
mod console;
mod debug_log;
mod deploy;
mod drift;
mod drill;
mod evidence;
mod full_disk;
mod fuzz_regressions;
mod gate;
mod handoff;
mod handoff_cmd;
mod harness;
mod incident;
mod jobs;
mod layers;
mod lock;
mod mouse;
mod package;
mod parsers_prop;
mod playbook_console;
mod realrepo;
mod release;
mod repo;
mod review;
mod rollback;
mod rollback_dialog;
mod runner;
mod safety;
mod screens;
mod team;
mod themes;
mod verify;
