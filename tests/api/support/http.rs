//! Plain HTTP to a [`TestApp`]: `POST` and `GET /graphql` with a chosen
//! `Accept`, REST calls, and the [`Answer`] that keeps status, headers and
//! body whatever the status, for the tests that assert on all three.

use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{ACCEPT, AsHeaderName, HeaderMap},
};
use serde_json::Value;

use super::app::{TestApp, TestUser};

/// The GraphQL-over-HTTP response media type.
pub const GRJ: &str = "application/graphql-response+json";
/// Plain JSON, the legacy GraphQL response media type.
pub const JSON: &str = "application/json";

/// An HTTP answer: status, headers and the body as JSON (`Null` when it
/// is not JSON; `text` has it verbatim).
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON, `Null` when it is empty or not JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// An answer from its parts; parses `text` as JSON when it is.
    pub fn new(status: StatusCode, headers: HeaderMap, text: String) -> Self {
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// A header's value as text.
    pub fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends `request` and reads the whole answer.
pub async fn send(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("the request is answered");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer::new(status, headers, text)
}

/// [`send`] for an API that always answers JSON (REST): a body that is
/// neither empty nor JSON fails the test.
pub async fn send_json(request: RequestBuilder) -> Answer {
    let answer = send(request).await;
    if !answer.text.is_empty()
        && let Err(e) = serde_json::from_str::<Value>(&answer.text)
    {
        panic!("{}: not JSON ({e}): {}", answer.status, answer.text);
    }
    answer
}

impl TestApp {
    /// `method` on `path` (such as `/todos`), with an optional token.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// `POST /graphql` with a JSON body and an optional token (no
    /// `Accept`: add one, or other headers, before sending).
    pub fn graphql_request(&self, token: Option<&str>, body: &Value) -> RequestBuilder {
        self.request(Method::POST, "/graphql", token).json(body)
    }

    /// `POST /graphql` with a JSON body, an `Accept` and an optional token.
    pub async fn post_graphql(&self, accept: &str, token: Option<&str>, body: &Value) -> Answer {
        send(self.graphql_request(token, body).header(ACCEPT, accept)).await
    }

    /// `GET /graphql` with these query parameters and headers.
    pub async fn get_graphql(&self, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let mut request = self.request(Method::GET, "/graphql", None).query(params);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).await
    }

    /// A REST call with an optional token and JSON body.
    pub async fn rest_with(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send_json(request).await
    }

    /// A REST call as `user` with an optional JSON body.
    pub async fn rest_as(
        &self,
        user: &TestUser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.rest_with(Some(&user.access_token), method, path, body)
            .await
    }
}

impl TestApp {
    /// A REST call as `user` that must succeed (2xx); returns the JSON
    /// body (`Null` when empty).
    pub async fn rest_ok(
        &self,
        user: &TestUser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let answer = self.rest_as(user, method.clone(), path, body).await;
        let (status, text) = (answer.status, &answer.text);
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        answer.body
    }

    /// `GET /readyz`: the status and the JSON report.
    pub async fn readyz(&self) -> (StatusCode, Value) {
        let response = self
            .request(Method::GET, "/readyz", None)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}
