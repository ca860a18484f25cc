//! guardrail: a terminal release console.
//!
//! `pipeline` is the domain (no terminal code); `app` holds the interactive
//! state and event loop; `views` draws app state with ratatui.
pub mod app;
pub mod pipeline;
pub mod views;
