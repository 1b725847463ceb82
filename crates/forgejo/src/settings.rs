//! The daemon's settings: flag > env > config file > default (brief §3.6).
