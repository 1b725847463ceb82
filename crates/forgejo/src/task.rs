//! A Forgejo task turned into a JobRequest.
