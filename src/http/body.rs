//! Request bodies and `MAX_BODY_BYTES`. A body whose `Content-Length`
//! already exceeds the limit is refused before any of it is read: hyper
//! sends `100 Continue` only when a body is first polled, so a client that
//! waits for it (curl does for large uploads) gets the 413 instead of an
//! invitation to upload. A body without a declared length (chunked) is
//! read until it crosses the limit. Either way the answer closes the
//! connection, and the connection lingers ([`super::linger`]) so a client
//! still sending can read it. GraphQL and the REST facade each put their
//! own error body on the refusal.

use axum::{
    body::Bytes,
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, header, request::Parts},
};
use futures_util::StreamExt;

use super::linger::Linger;

/// Why a body was not read.
#[derive(Debug)]
pub enum Refusal {
    /// Over the limit, declared or read.
    TooLarge,
    /// The body ended in an error (the client went away, bad chunking).
    Unreadable(axum::Error),
}

/// Whether `headers` declare a body longer than `limit` bytes.
pub fn declared_over(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX))
}

/// The header every 413 carries: the rest of the body is never read, so
/// the connection cannot carry another request.
pub fn connection_close() -> (HeaderName, HeaderValue) {
    (header::CONNECTION, HeaderValue::from_static("close"))
}

/// Refuses a body over the limit: the connection lingers when it closes.
pub fn too_large(extensions: &axum::http::Extensions) -> Refusal {
    Linger::arm_for(extensions);
    Refusal::TooLarge
}

/// Reads the body of `request`, at most `limit` bytes (see the module
/// docs); the request's parts come back either way.
pub async fn read(request: Request, limit: usize) -> (Parts, Result<Bytes, Refusal>) {
    let (parts, body) = request.into_parts();
    if declared_over(&parts.headers, limit) {
        let refusal = too_large(&parts.extensions);
        return (parts, Err(refusal));
    }
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return (parts, Err(Refusal::Unreadable(e))),
        };
        total += chunk.len();
        if total > limit {
            let refusal = too_large(&parts.extensions);
            return (parts, Err(refusal));
        }
        chunks.push(chunk);
    }
    // Most bodies arrive in one chunk: keep it without a copy.
    let body = if chunks.len() == 1 {
        chunks.pop().unwrap_or_default()
    } else {
        Bytes::from(chunks.concat())
    };
    (parts, Ok(body))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(body: &'static str, declared: Option<&str>) -> Request {
        let mut builder = Request::builder();
        if let Some(length) = declared {
            builder = builder.header(header::CONTENT_LENGTH, length);
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn reads_up_to_the_limit() {
        let (_, body) = read(request("12345", Some("5")), 5).await;
        assert_eq!(body.unwrap(), "12345");
        let (_, body) = read(request("12345", None), 5).await;
        assert_eq!(body.unwrap(), "12345");
    }

    #[tokio::test]
    async fn refuses_a_declared_length_over_the_limit_unread() {
        let (_, body) = read(request("", Some("6")), 5).await;
        assert!(matches!(body, Err(Refusal::TooLarge)));
    }

    #[tokio::test]
    async fn refuses_a_body_that_crosses_the_limit() {
        let (_, body) = read(request("123456", None), 5).await;
        assert!(matches!(body, Err(Refusal::TooLarge)));
    }

    #[test]
    fn declared_lengths() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(value).unwrap(),
            );
            declared_over(&headers, 1000)
        };
        assert!(!declared_over(&HeaderMap::new(), 1000));
        assert!(!with("1000"));
        assert!(with("1001"));
        assert!(with("18446744073709551615"));
    }
}
