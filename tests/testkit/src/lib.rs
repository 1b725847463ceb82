//! What several test suites share, so each keeps one copy: a network namespace per test
//! ([`netns`]), the rule for when a VM test may run and where its agent is ([`vm`]), a
//! PostgreSQL database ([`postgres`]) and a RabbitMQ vhost ([`rabbitmq`]) per test, a TCP proxy
//! a test can cut ([`proxy`]), a TLS terminator with its own test CA ([`tls`]), an HTTP forward
//! proxy that records what went through it ([`forward_proxy`]), a scraper for `/metrics` ([`scrape`]), what a job may have left on the host ([`leftovers`]) and where the
//! conformance vectors are ([`conformance`]).
//!
//! Used only as a dev-dependency. Unlike a library of the product, it panics with a message
//! when the machine lacks what a test needs (root, `ip`, `rabbitmqctl`, a server): a test that
//! cannot set itself up has failed, and the message says what to install or start.

pub mod conformance;
pub mod forward_proxy;
pub mod leftovers;
pub mod netns;
pub mod postgres;
pub mod proxy;
pub mod rabbitmq;
pub mod scrape;
pub mod tls;
pub mod vm;
