//! The fake, tested on its own.
