//! Where batches go: the endpoint trait, the server's reply, and the HTTP endpoint of a session.

use super::{BATCH_PATH, MAX_RESPONSE_BYTES};
use crate::sync::auth::{AuthError, Renewal, Secret, Session};
use crate::sync::http::{describe, read_body, retry_after};
use std::future::Future;
use std::time::Duration;

/// What the server answered to one POST.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum PostError {
    /// The request did not get an answer (timeout, dropped connection, …).
    Transport(String),
    /// No connection could be made at all (refused, unresolvable, TLS handshake failed).
    Unreachable(String),
    /// No usable token.
    Auth(AuthError),
}

/// Where batches go: [`HttpEndpoint`] in production, scripted fakes in tests.
pub trait Endpoint {
    /// POSTs a gzip-compressed `{"events": [...]}` body, giving up after `timeout`.
    fn post(&mut self, gzipped: &[u8], timeout: Duration) -> impl Future<Output = Result<Reply, PostError>>;
    /// Renews the credentials after a 401.
    fn reauthenticate(&mut self) -> impl Future<Output = Result<Renewal, AuthError>>;
    /// The logged-in team, when the server named one.
    fn team(&self) -> Option<String>;
}

/// The batch endpoint of the session's server.
pub struct HttpEndpoint {
    session: Session,
}

impl HttpEndpoint {
    pub fn new(session: Session) -> HttpEndpoint {
        HttpEndpoint { session }
    }
}

impl Endpoint for HttpEndpoint {
    async fn post(&mut self, gzipped: &[u8], timeout: Duration) -> Result<Reply, PostError> {
        let token: Secret = self.session.access_token().await.map_err(PostError::Auth)?;
        let url = self.session.server().endpoint(BATCH_PATH);
        let request = self
            .session
            .http()
            .post(url)
            .bearer_auth(token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(gzipped.to_vec())
            .timeout(timeout);
        let response = crate::sync::http::send(request).await.map_err(|e| {
            if e.is_connect() { PostError::Unreachable(describe(&e)) } else { PostError::Transport(describe(&e)) }
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = read_body(response, MAX_RESPONSE_BYTES).await.map_err(PostError::Transport)?;
        Ok(Reply { status, retry_after, body })
    }

    async fn reauthenticate(&mut self) -> Result<Renewal, AuthError> {
        self.session.refresh().await
    }

    fn team(&self) -> Option<String> {
        self.session.credentials().team_slug.clone()
    }
}
