//! A fake Forgejo.
