//! Tests of github::live.
