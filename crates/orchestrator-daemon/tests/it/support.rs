pub mod daemon;
pub mod db;
pub mod host;
pub mod netns;
pub mod proxy;
pub mod qemu;
pub mod runner;
pub mod vhost;
