//! Reporting: events in, rows and step states out.
