//! A job's events turned into the log rows and step states Forgejo shows.
