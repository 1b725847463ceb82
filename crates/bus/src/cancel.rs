//! The cancel message crosses the wire (a fanout exchange), so its shape is part of the job
//! contract; the bus keeps its short name for it.

pub use contract::CancelRequest as Cancel;
