//! Tests of github::results.
