//! Tests of github::report.
