//! Tests of the fake GitHub itself, over raw HTTP as a runner would speak to it.

mod broker;
mod live_console;
mod oauth;
mod registration;
mod results;
mod run_service;
mod runner_key;
