//! What the fake remembers: tokens, runner groups, runners and their OAuth clients.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use rsa::RsaPublicKey;
use tokio::sync::watch;

use crate::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Register,
    Remove,
}

/// A runner group (ref §1.3 `runner-groups`; §1.4 `pools`).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: u64,
    pub name: String,
    pub default: bool,
    pub is_hosted: bool,
}

/// A registered runner as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerView {
    pub id: u64,
    pub name: String,
    pub labels: Vec<String>,
    pub group_id: u64,
    pub ephemeral: bool,
    /// The OAuth client id the runner authenticates as (ref §1.3 `client_id`).
    pub client_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Runner {
    pub view: RunnerView,
    pub public_key: RsaPublicKey,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub registration_tokens: HashMap<String, TokenKind>,
    /// Tenant bearer tokens handed out by runner-registration (ref §1.1).
    pub tenant_tokens: Vec<String>,
    pub groups: Vec<Group>,
    pub runners: BTreeMap<u64, Runner>,
    pub next_runner_id: u64,
    /// Runner OAuth access tokens (ref §2) → runner id.
    pub access_tokens: HashMap<String, u64>,
}

pub(crate) struct Shared {
    pub config: Config,
    pub base: String,
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
}

impl Shared {
    pub fn new(config: Config, base: String) -> Self {
        let groups = vec![
            Group { id: 1, name: "Default".into(), default: true, is_hosted: false },
            Group { id: 2, name: "GitHub Actions".into(), default: false, is_hosted: true },
        ];
        let inner = Inner {
            registration_tokens: HashMap::new(),
            tenant_tokens: Vec::new(),
            groups,
            runners: BTreeMap::new(),
            next_runner_id: 1,
            access_tokens: HashMap::new(),
        };
        Self { config, base, inner: Mutex::new(inner), changes: watch::channel(0).0 }
    }

    /// Locks the state. A poisoned lock only means a handler panicked mid-update; the fake keeps
    /// serving what is there so the test sees the real failure rather than a cascade.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes everyone waiting on a change.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn mint_registration_token(&self, kind: TokenKind) -> String {
        let token = format!("A{}", uuid::Uuid::new_v4().simple()).to_uppercase();
        self.lock().registration_tokens.insert(token.clone(), kind);
        token
    }

    pub fn runners(&self) -> Vec<RunnerView> {
        self.lock().runners.values().map(|r| r.view.clone()).collect()
    }

    pub fn delete_runner(&self, id: u64) -> bool {
        let removed = {
            let mut inner = self.lock();
            inner.access_tokens.retain(|_, runner| *runner != id);
            inner.runners.remove(&id).is_some()
        };
        self.changed();
        removed
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn authorization_url(&self) -> String {
        self.url("oauth/token")
    }
}
