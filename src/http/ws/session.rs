//! What a socket holds once `connection_init` is accepted: the user and
//! when their token expires ([`Session`]), its place in the per-user
//! connection limit ([`Slot`]), and its count in the connections gauge.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;
use uuid::Uuid;

use super::protocol::Protocol;
use crate::{
    auth::{AuthError, AuthService, token},
    state::AppState,
};

/// An authenticated socket's user and token expiry.
pub struct Session {
    /// The user.
    pub user: Uuid,
    /// Their token's claims (each operation runs with them).
    pub claims: token::Claims,
    /// When the token expires: operations end then.
    pub expires: Instant,
}

impl Session {
    /// Authenticates `authorization` (`Bearer <token>`) through the one
    /// auth path; the error is the close reason.
    pub async fn start(auth: &AuthService, authorization: &str) -> Result<Self, String> {
        let credentials = auth.credentials(Some(authorization));
        if token::bearer(authorization).is_none() {
            return Err("not a Bearer token".into());
        }
        let user = match auth.authenticate(&credentials).await {
            Ok(user) => user,
            Err(AuthError::Db(e)) => {
                crate::error::log_internal(&e);
                return Err("internal server error".into());
            }
            Err(_) => return Err("the access token is invalid or expired".into()),
        };
        let claims = credentials
            .claims()
            .map_err(|_| "the access token is invalid or expired".to_owned())?
            .clone();
        let remaining = claims.exp - chrono::Utc::now().timestamp();
        let expires = Instant::now() + Duration::from_secs(u64::try_from(remaining).unwrap_or(0));
        Ok(Self {
            user: user.id,
            claims,
            expires,
        })
    }
}

/// Releases a user's connection slot when the socket ends.
pub struct Slot {
    connections: Arc<Mutex<HashMap<Uuid, usize>>>,
    user: Uuid,
}

impl Slot {
    /// Counts a socket of `user` against `WS_MAX_CONNECTIONS_PER_USER`;
    /// `None` when the user has that many already.
    pub fn take(state: &AppState, user: Uuid) -> Option<Self> {
        let limit = state.config.ws.max_connections_per_user;
        let mut map = state
            .ws_connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = map.entry(user).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Self {
            connections: state.ws_connections.clone(),
            user,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.connections.lock()
            && let Some(n) = map.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// Counts the socket in `todoql.websocket.connections` while it lives.
pub struct OpenConnection(&'static str, crate::telemetry::Metrics);

impl OpenConnection {
    /// Counts a socket of `protocol` in `metrics`.
    pub fn new(protocol: Protocol, metrics: &crate::telemetry::Metrics) -> Self {
        let name = protocol.name();
        metrics.ws_connection(name, 1);
        Self(name, metrics.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.1.ws_connection(self.0, -1);
    }
}
