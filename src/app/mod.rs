//! Interactive state.
