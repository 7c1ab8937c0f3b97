//! Content negotiation of GraphQL over HTTP: `application/graphql-response+json`
//! (statuses mirror the outcome) or legacy `application/json` (every
//! well-formed request gets 200), or the GraphiQL page for a browser.

use axum::http::HeaderValue;

/// The two response media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: statuses mirror the outcome.
    GraphqlResponseJson,
    /// `application/json`: every well-formed request gets 200.
    Json,
}

impl MediaType {
    /// The `Content-Type` value of a response in this media type.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    /// The `Content-Type` value as text (kept with an idempotency key).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// What the `Accept` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// A GraphQL response in this media type.
    Graphql(MediaType),
    /// The GraphiQL page (a browser navigating to the endpoint).
    Html,
    /// Nothing we can produce.
    NotAcceptable,
}

/// Picks the highest-priority supported type from `Accept` (absent, empty
/// or `*/*` means `application/json`).
pub fn negotiate(accept: Option<&str>) -> Negotiated {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Negotiated::Graphql(MediaType::Json);
    };
    let mut ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty() && q > 0.0).then_some((media, q))
        })
        .collect();
    // Stable: among equal weights the client's order decides.
    ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (media, _) in ranges {
        match media.as_str() {
            "application/graphql-response+json" => {
                return Negotiated::Graphql(MediaType::GraphqlResponseJson);
            }
            "application/json" | "application/*" | "*/*" => {
                return Negotiated::Graphql(MediaType::Json);
            }
            "text/html" => return Negotiated::Html,
            _ => {}
        }
    }
    Negotiated::NotAcceptable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        use MediaType::*;
        use Negotiated::*;
        assert_eq!(negotiate(None), Graphql(Json));
        assert_eq!(negotiate(Some("")), Graphql(Json));
        assert_eq!(negotiate(Some("*/*")), Graphql(Json));
        assert_eq!(negotiate(Some("application/json")), Graphql(Json));
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Graphql(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/json;q=0.5, application/graphql-response+json"
            )),
            Graphql(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.1, application/json"
            )),
            Graphql(Json)
        );
        assert_eq!(
            negotiate(Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
            )),
            Html
        );
        assert_eq!(negotiate(Some("text/plain")), NotAcceptable);
        assert_eq!(negotiate(Some("application/json;q=0")), NotAcceptable);
    }
}
