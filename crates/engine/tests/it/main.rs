//! The engine as a user sees it: jobs run through `run_job` on the local host, asserted on the
//! events they produce.

mod cancel;
mod checkout;
mod commands;
mod expressions;
mod files;
mod harness;
mod masking;
mod run;
mod seam;
