//! The fake, tested on its own: raw HTTP against the server, asserting what a runner would get
//! back and what a user would see on the job page.

mod client;
mod faults;
mod fetch;
mod logs;
mod registration;
mod tasks;
mod transport;
mod view;
mod zombie;
