//! Failures a test switches on to see how a client copes: a proxy that answers 503 with an HTML
//! page, and one-off Connect errors.

use tokio::time::Instant;

use crate::connect_error::{Code, ConnectError};

/// The body of the proxy page: not JSON, so a client must map the error by HTTP status (§1.4).
pub const PROXY_PAGE: &str = "<html><head><title>503 Service Temporarily Unavailable</title></head>\
     <body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n";

#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    pub proxy_down: Option<ProxyDown>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum ProxyDown {
    Until(Instant),
    UntilCleared,
}

impl Faults {
    pub(crate) fn proxy_is_down(&self, now: Instant) -> bool {
        match self.proxy_down {
            Some(ProxyDown::UntilCleared) => true,
            Some(ProxyDown::Until(until)) => now < until,
            None => false,
        }
    }
}

/// A Connect error to answer once, to the next call of `method` (any call when `None`).
#[derive(Clone, Debug)]
pub(crate) struct QueuedError {
    pub method: Option<String>,
    pub error: ConnectError,
}

impl QueuedError {
    pub(crate) fn new(method: Option<&str>, code: Code) -> QueuedError {
        QueuedError { method: method.map(str::to_string), error: ConnectError::new(code, "injected by the test") }
    }
}
