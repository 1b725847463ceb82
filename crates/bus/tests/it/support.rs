pub mod backend;
pub mod proxy;
pub mod vhost;
