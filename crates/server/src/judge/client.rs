//! A client of an OpenAI-compatible chat completions endpoint (vLLM,
//! llama.cpp's server, Ollama, TGI, the hosted APIs): one call per answer,
//! with a timeout, retries with backoff on 5xx, timeouts and dropped
//! connections, and `429` honoured with its `Retry-After`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::{StatusCode, Url};
use safepref_core::judge::Token;
use serde_json::{Value, json};

/// The longest wait a `Retry-After` may ask for; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// The longest wait between two tries after a failure without `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The most answer tokens asked for: a labels object is a few hundred.
const MAX_ANSWER_TOKENS: u32 = 1024;

/// The API key, from `SAFEPREF_LLM_API_KEY`. It is sent as a bearer token
/// and nowhere else: not logged, not stored, not shown (its `Debug` hides it).
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key in the environment, if one is set and not empty.
    pub fn from_env() -> Option<ApiKey> {
        std::env::var("SAFEPREF_LLM_API_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .map(|k| ApiKey(k.trim().to_string()))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(hidden)")
    }
}

/// Where the calls go: `{base}/chat/completions`. The base is what users
/// paste (`http://127.0.0.1:8080/v1`); the full path is taken as well.
pub fn chat_url(endpoint: &str) -> Result<Url, String> {
    let url = Url::parse(endpoint.trim()).map_err(|e| {
        format!(
            "the endpoint {endpoint:?} is not a URL ({e}): give one like http://127.0.0.1:8080/v1"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the endpoint {endpoint:?} is not http or https: give one like http://127.0.0.1:8080/v1"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the endpoint carries credentials: give the key in SAFEPREF_LLM_API_KEY \
                    instead, so it is never stored"
                .into(),
        );
    }
    if url.query().is_some() {
        return Err(format!(
            "the endpoint {endpoint:?} has a query string: give the API's base URL only"
        ));
    }
    let path = url.path().trim_end_matches('/');
    let path = if path.ends_with("/chat/completions") {
        path.to_string()
    } else {
        format!("{path}/chat/completions")
    };
    let mut url = url;
    url.set_path(&path);
    Ok(url)
}

/// One message of a conversation.
#[derive(Debug, Clone)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// A model's answer.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub text: String,
    /// The answer's tokens with their log-probabilities, if the server gave them.
    pub tokens: Option<Vec<Token>>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
}

/// Why a call gave no answer, after its retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("the server failed: {0}")]
    ServerError(String),
    #[error("the server kept answering 429 (too many requests)")]
    RateLimited,
    #[error("the connection failed: {0}")]
    Connection(String),
    /// A 4xx other than 429: retrying the same request cannot help.
    #[error("the server refused the request: {0}")]
    Refused(String),
    #[error("the answer is not a chat completion: {0}")]
    BadResponse(String),
}

impl CallError {
    /// The kind stored with the failure (see `judge_failures.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout(_) => "timeout",
            CallError::ServerError(_) => "server_error",
            CallError::RateLimited => "rate_limited",
            CallError::Connection(_) => "connection",
            CallError::Refused(_) | CallError::BadResponse(_) => "bad_response",
        }
    }
}

/// How patient the client is.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub timeout: Duration,
    /// Tries after the first, for failures worth trying again.
    pub retries: u32,
    /// The first wait after a failure; it doubles on each further one.
    pub backoff: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            timeout: Duration::from_secs(120),
            retries: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A client for one endpoint and model. Structured output and log
/// probabilities are asked for until the server refuses a request that
/// succeeds without them; then they are left out for the rest of the run.
pub struct ChatClient {
    http: reqwest::Client,
    url: Url,
    model: String,
    key: Option<ApiKey>,
    patience: Patience,
    structured: AtomicBool,
}

/// What one call cost besides its answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallStats {
    /// Tries made again after a failure (5xx, timeouts, 429, dropped connections).
    pub retries: u32,
}

/// One try's failure, and whether (and after how long) to try again.
enum Failure {
    Retry(CallError, Option<Duration>),
    Final(CallError),
    /// 400 or 422 with the optional fields on: try once without them.
    Unsupported(String),
}

impl ChatClient {
    pub fn new(
        endpoint: &str,
        model: &str,
        key: Option<ApiKey>,
        patience: Patience,
    ) -> Result<ChatClient, String> {
        let url = chat_url(endpoint)?;
        let http = reqwest::Client::builder()
            .timeout(patience.timeout)
            .build()
            .map_err(|e| format!("could not set up the HTTP client: {e}"))?;
        Ok(ChatClient {
            http,
            url,
            model: model.to_string(),
            key,
            patience,
            structured: AtomicBool::new(true),
        })
    }

    /// The request body for these messages, as sent (it holds no key).
    pub fn body(&self, messages: &[Message], schema: &Value) -> Value {
        self.body_with(messages, schema, self.structured.load(Ordering::Relaxed))
    }

    fn body_with(&self, messages: &[Message], schema: &Value, structured: bool) -> Value {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": MAX_ANSWER_TOKENS,
        });
        if structured {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "labels", "schema": schema, "strict": false},
            });
            body["logprobs"] = json!(true);
        }
        body
    }

    /// Asks for one answer, retrying what is worth retrying.
    pub async fn complete(
        &self,
        messages: &[Message],
        schema: &Value,
    ) -> (Result<Completion, CallError>, CallStats) {
        let mut stats = CallStats::default();
        let mut structured = self.structured.load(Ordering::Relaxed);
        let mut tried_plain = false;
        loop {
            let body = self.body_with(messages, schema, structured);
            let failure = match self.try_once(&body, structured).await {
                Ok(completion) => {
                    if tried_plain {
                        tracing::info!(
                            "the server refused structured output or log-probabilities; \
                             answers are parsed from plain text for the rest of this run"
                        );
                        self.structured.store(false, Ordering::Relaxed);
                    }
                    return (Ok(completion), stats);
                }
                Err(failure) => failure,
            };
            let (error, wait) = match failure {
                Failure::Unsupported(_) if !tried_plain => {
                    tried_plain = true;
                    structured = false;
                    continue;
                }
                Failure::Unsupported(message) => return (Err(CallError::Refused(message)), stats),
                Failure::Final(error) => return (Err(error), stats),
                Failure::Retry(error, wait) => (error, wait),
            };
            if stats.retries >= self.patience.retries {
                return (Err(error), stats);
            }
            let wait = wait.unwrap_or_else(|| self.backoff(stats.retries));
            tracing::debug!(kind = error.kind(), ?wait, "chat call failed; trying again");
            tokio::time::sleep(wait).await;
            stats.retries += 1;
        }
    }

    /// The wait before the try after `retries` earlier ones: doubling, with
    /// a quarter of jitter so that concurrent callers spread out.
    fn backoff(&self, retries: u32) -> Duration {
        let base = self
            .patience
            .backoff
            .saturating_mul(1 << retries.min(16))
            .min(MAX_BACKOFF);
        base.mul_f64(rand::rng().random_range(0.75..1.25))
    }

    async fn try_once(&self, body: &Value, structured: bool) -> Result<Completion, Failure> {
        let mut request = self.http.post(self.url.clone()).json(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(&key.0);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let text = response.text().await.map_err(|e| self.transport(e))?;
        if status.is_success() {
            return parse_completion(&text).map_err(|e| Failure::Final(CallError::BadResponse(e)));
        }
        let message = error_message(status, &text);
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => Failure::Retry(CallError::RateLimited, retry_after),
            s if s.is_server_error() => Failure::Retry(CallError::ServerError(message), None),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY if structured => {
                Failure::Unsupported(message)
            }
            _ => Failure::Final(CallError::Refused(message)),
        })
    }

    fn transport(&self, e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            Failure::Retry(CallError::Timeout(self.patience.timeout.as_secs()), None)
        } else {
            // Without the URL: reqwest's text names it, and that is noise here.
            let e = e.without_url();
            let detail = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            Failure::Retry(CallError::Connection(detail), None)
        }
    }
}

/// A `Retry-After` in seconds (the HTTP-date form is rare from these APIs
/// and gets the usual backoff instead), capped.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: f64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

/// The status and the server's own message, shortened.
fn error_message(status: StatusCode, body: &str) -> String {
    let said = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or(v["error"].as_str())
                .or(v["message"].as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| body.trim().to_string());
    let said: String = said.chars().take(300).collect();
    if said.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {said}")
    }
}

/// The answer's text, tokens and usage from a chat completion.
fn parse_completion(text: &str) -> Result<Completion, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the body is not JSON ({e})"))?;
    let choice = &value["choices"][0];
    let content = choice["message"]["content"]
        .as_str()
        .ok_or("choices[0].message.content is missing")?;
    let tokens = choice["logprobs"]["content"].as_array().map(|tokens| {
        tokens
            .iter()
            .filter_map(|t| {
                Some(Token {
                    text: t["token"].as_str()?.to_string(),
                    logprob: t["logprob"].as_f64()?,
                })
            })
            .collect()
    });
    Ok(Completion {
        text: content.to_string(),
        tokens,
        tokens_in: value["usage"]["prompt_tokens"].as_u64(),
        tokens_out: value["usage"]["completion_tokens"].as_u64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_the_chat_path_once() {
        let url = |e: &str| chat_url(e).map(|u| u.to_string());
        let want = "http://127.0.0.1:8080/v1/chat/completions";
        assert_eq!(url("http://127.0.0.1:8080/v1").unwrap(), want);
        assert_eq!(url("http://127.0.0.1:8080/v1/").unwrap(), want);
        assert_eq!(url(want).unwrap(), want);
    }

    #[test]
    fn endpoints_with_credentials_or_other_schemes_are_refused() {
        let err = chat_url("http://user:secret@127.0.0.1/v1").unwrap_err();
        assert!(err.contains("SAFEPREF_LLM_API_KEY"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(chat_url("ftp://127.0.0.1/v1").is_err());
        assert!(chat_url("127.0.0.1:8080").is_err());
        assert!(chat_url("http://127.0.0.1/v1?key=abc").is_err());
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = ApiKey("sk-very-secret".into());
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn a_completion_gives_text_tokens_and_usage() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"{}"},
            "logprobs":{"content":[{"token":"{","logprob":-0.1},{"token":"}","logprob":-0.2}]}}],
            "usage":{"prompt_tokens":12,"completion_tokens":2}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(c.text, "{}");
        assert_eq!(c.tokens.unwrap().len(), 2);
        assert_eq!((c.tokens_in, c.tokens_out), (Some(12), Some(2)));
        let bare = parse_completion(r#"{"choices":[{"message":{"content":"x"}}]}"#).unwrap();
        assert!(bare.tokens.is_none() && bare.tokens_in.is_none());
        assert!(parse_completion(r#"{"choices":[]}"#).is_err());
    }

    #[test]
    fn the_servers_error_message_is_kept_short() {
        let m = error_message(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"unknown field"}}"#,
        );
        assert_eq!(m, "400 Bad Request: unknown field");
        let long = "x".repeat(1000);
        assert!(error_message(StatusCode::BAD_GATEWAY, &long).len() < 400);
    }
}
