//! The kit's own behaviour, as the suites using it rely on it: a proxy that forwards until cut
//! and again once restored, a database and a vhost that exist for the test and are gone after.

mod postgres;
mod proxy;
mod rabbitmq;
