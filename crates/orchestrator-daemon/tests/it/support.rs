pub mod daemon;
pub mod db;
pub mod runner;
pub mod vhost;
