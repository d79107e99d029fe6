//! The HTTP side of sync: which server URLs we accept, the TLS trust store, and one way to build the
//! client every request goes through.
//!
//! Tokens and events must never travel in clear text, so a server URL must be `https://`; plain
//! `http://` is accepted only for loopback hosts (local servers and tests), where nothing leaves the
//! machine. The trust store is the Mozilla roots (`webpki-roots`, so behaviour does not depend on the
//! host's certificate bundle) plus, optionally, one extra CA file for a team's private server.

use reqwest::Url;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A validated sync server base URL (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    base: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("invalid sync server URL {url:?}: {reason}")]
    Invalid { url: String, reason: String },
    #[error(
        "refusing plain http:// for {host}: tokens and events would travel unencrypted; use https:// (http:// is allowed only for loopback hosts: localhost, 127.0.0.1, ::1)"
    )]
    InsecureHttp { host: String },
}

impl crate::error::Diagnose for UrlError {
    fn hints(&self) -> Vec<String> {
        vec!["change it with `spec-kitty sync server https://…` (or SPEC_KITTY_SAAS_URL)".into()]
    }

    fn invalid_input(&self) -> bool {
        true
    }
}

impl ServerUrl {
    /// Trims whitespace and trailing slashes, then applies the URL policy.
    pub fn parse(text: &str) -> Result<ServerUrl, UrlError> {
        let trimmed = text.trim().trim_end_matches('/');
        let invalid = |reason: &str| UrlError::Invalid { url: trimmed.to_owned(), reason: reason.to_owned() };
        let url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials do not belong in the URL; use `spec-kitty auth login`"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a server URL has no query or fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => return Err(UrlError::InsecureHttp { host: host.to_owned() }),
            other => return Err(invalid(&format!("unsupported scheme {other}:// (use https://)"))),
        }
        Ok(ServerUrl { base: url.as_str().trim_end_matches('/').to_owned() })
    }

    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// `path` (e.g. `api/v1/events/batch/`) under the base URL, which may itself have a path prefix.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How a client is built.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// An extra CA certificate (PEM) to trust besides the public roots.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Upper bound for one request (connect, send, response); callers may set a shorter one per request.
    pub request_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot use the CA file {}: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("cannot set up HTTPS: {0}")]
    Setup(String),
}

impl crate::error::Diagnose for HttpError {}

/// The client all sync requests use: our trust store, bounded timeouts, and no redirects (a redirect
/// could carry the bearer token to another origin).
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client, HttpError> {
    // reqwest is built without a default crypto provider; ring is the one we ship.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = tls_config(settings.ca_file.as_deref())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("spec-kitty/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpError::Setup(describe(&e)))
}

/// Mozilla's roots plus the certificates in `ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let ca_error = |message: String| HttpError::CaFile { path: path.to_owned(), message };
        let pem =
            crate::fsutil::read_small(path, crate::fsutil::LARGE_FILE_CAP).map_err(|e| ca_error(e.to_string()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| ca_error(format!("not a PEM certificate file ({e})")))?;
            roots.add(cert).map_err(|e| ca_error(format!("invalid certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error("no PEM certificate (-----BEGIN CERTIFICATE-----) found".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Sends a request built on one of our clients, recording (debug) its method, URL, body size, status
/// and duration, or why it failed. Headers and bodies are never recorded: they carry tokens and
/// passwords. Server URLs carry no credentials ([`ServerUrl::parse`] refuses them), so the URL is safe.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    use crate::diagnostics::Ms;
    let (client, request) = request.build_split();
    let request = request?;
    let (method, url) = (request.method().clone(), request.url().clone());
    let bytes = request.body().and_then(|b| b.as_bytes()).map_or(0, <[u8]>::len);
    tracing::trace!(%method, %url, bytes, "HTTP request");
    let started = std::time::Instant::now();
    let result = client.execute(request).await;
    let elapsed = Ms(started.elapsed());
    match &result {
        Ok(response) => {
            tracing::debug!(status = response.status().as_u16(), bytes, %elapsed, "{method} {url}");
        }
        Err(error) => tracing::debug!(error = %describe(error), bytes, %elapsed, "{method} {url} failed"),
    }
    result
}

/// A small single-threaded runtime for one command's network work.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Reads a response body, refusing more than `limit` bytes (a misbehaving server cannot make us
/// buffer without bound).
pub async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("response body larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A one-line description of a request failure: the kind, then the innermost cause (e.g. "connection
/// refused"). URLs never carry tokens, so nothing secret can appear here.
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "broken response"
    } else {
        "request failed"
    };
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let cause = cause.to_string();
    if cause.is_empty() || cause == kind { kind.to_owned() } else { format!("{kind}: {cause}") }
}

/// The value of a `Retry-After` header in seconds (the HTTP-date form is rare for APIs and ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_everywhere_http_only_on_loopback() {
        assert_eq!(ServerUrl::parse(" https://sync.example.com/ ").unwrap().as_str(), "https://sync.example.com");
        for ok in ["http://127.0.0.1:8000", "http://localhost:1/", "http://[::1]:9", "http://127.0.0.2"] {
            assert!(ServerUrl::parse(ok).is_ok(), "{ok}");
        }
        let err = ServerUrl::parse("http://example.com").unwrap_err();
        assert!(matches!(err, UrlError::InsecureHttp { .. }));
        assert!(err.to_string().contains("use https://"), "{err}");
        assert!(ServerUrl::parse("http://localhost.example.com").is_err());
        assert!(ServerUrl::parse("ftp://example.com").is_err());
        assert!(ServerUrl::parse("example.com").is_err());
        assert!(ServerUrl::parse("https://u:p@example.com").is_err());
        assert!(ServerUrl::parse("https://example.com/?x=1").is_err());
    }

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let url = ServerUrl::parse("https://example.com/team/").unwrap();
        assert_eq!(url.endpoint("/api/v1/token/"), "https://example.com/team/api/v1/token/");
    }

    #[test]
    fn the_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = tls_config(Some(&path)).unwrap_err();
        assert!(err.to_string().contains("ca.pem") && err.to_string().contains("no PEM certificate"), "{err}");
        assert!(tls_config(Some(&dir.path().join("missing.pem"))).is_err());
        assert!(tls_config(None).is_ok());
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
