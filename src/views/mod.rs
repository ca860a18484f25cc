//! Widgets and screens.
