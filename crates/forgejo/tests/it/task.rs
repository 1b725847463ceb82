//! Task translation: a Forgejo task in, a JobRequest out.
