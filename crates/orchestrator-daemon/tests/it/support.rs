pub mod daemon;
pub mod host;
pub mod qemu;
pub mod runner;
