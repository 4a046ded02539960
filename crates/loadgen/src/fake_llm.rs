//! A scripted, OpenAI-compatible chat-completions server for tests and
//! benchmarks of `safepref suggest`.
//!
//! The test starts it, a script decides each reply, and every request is
//! kept for the test to inspect. The HTTP/1.1 server is written by hand on
//! a `TcpListener` on purpose: it must be able to read a request and then
//! drop the connection, or answer only after a delay, which a framework
//! would not let it do.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this assistant message text. `logprob`: when Some(lp) and
    /// the request asked for `logprobs: true`, `choices[0].logprobs.content`
    /// lists the text's [`tokenize`] tokens, each with logprob lp.
    Content { text: String, logprob: Option<f64> },
    /// This status with a JSON error body and, if given, `Retry-After: N`.
    Status {
        code: u16,
        retry_after: Option<u64>,
        message: String,
    },
    /// Wait this long, then give the inner reply (a client timing out will
    /// have gone).
    Slow { delay: Duration, then: Box<Reply> },
    /// Read the request, then close the connection without answering.
    Drop,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub body: Value,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// Earlier requests with the same first user message.
    pub attempt: usize,
    /// When the request arrived, so tests can check the waits between tries.
    pub at: Instant,
}

type Script = dyn Fn(&Value, usize) -> Reply + Send + Sync;

/// The running server; dropping it stops it.
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

struct Shared {
    script: Box<Script>,
    keep_requests: bool,
    state: Mutex<State>,
    completions: AtomicU64,
    /// Connections accepted, so a test can tell keep-alive from reconnects.
    connections: AtomicUsize,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Requests so far per first user message, keyed by its hash so a long
    /// benchmark keeps 16 bytes per item rather than every prompt.
    attempts: HashMap<u64, usize>,
}

impl FakeLlm {
    /// Starts serving on 127.0.0.1 at a free port; `script(&body, attempt)`
    /// decides each reply (see [`Seen::attempt`]).
    pub async fn start<F>(script: F) -> io::Result<FakeLlm>
    where
        F: Fn(&Value, usize) -> Reply + Send + Sync + 'static,
    {
        FakeLlm::start_on(0, true, script).await
    }

    /// [`FakeLlm::start`] on a given port (0: any free one). Without
    /// `keep_requests`, [`FakeLlm::requests`] stays empty: a benchmark
    /// serving for hours should not hold every body it was sent.
    pub async fn start_on<F>(port: u16, keep_requests: bool, script: F) -> io::Result<FakeLlm>
    where
        F: Fn(&Value, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Box::new(script),
            keep_requests,
            state: Mutex::default(),
            completions: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
        });
        let accepting = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(FakeLlm {
            addr,
            shared,
            accepting,
        })
    }

    /// `http://127.0.0.1:PORT/v1`, the base an OpenAI client is given.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every chat-completions request received, in arrival order, including
    /// those then answered slowly or dropped.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.state().seen.clone()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        // The accept loop owns the connections' JoinSet, so this ends them too.
        self.accepting.abort();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A script that panicked poisons nothing we rely on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the request and returns its attempt number.
    fn record(&self, body: &Value, headers: Vec<(String, String)>) -> usize {
        let mut hasher = DefaultHasher::new();
        first_user_message(body).hash(&mut hasher);
        let mut state = self.state();
        let count = state.attempts.entry(hasher.finish()).or_insert(0);
        let attempt = *count;
        *count += 1;
        if self.keep_requests {
            let body = body.clone();
            state.seen.push(Seen {
                body,
                headers,
                attempt,
                at: Instant::now(),
            });
        }
        attempt
    }
}

/// The first message with role "user" in a request body (the item's
/// rendered prompt), or "" when there is none or its content is not a string.
pub fn first_user_message(body: &Value) -> &str {
    messages(body)
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
}

fn messages(body: &Value) -> impl Iterator<Item = &Value> {
    body["messages"].as_array().into_iter().flatten()
}

/// Splits text into runs of ASCII letters/digits, runs of whitespace, and
/// every other character alone; the tokens joined are exactly the text.
pub fn tokenize(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let run = |same: fn(char) -> bool| rest.find(|c| !same(c)).unwrap_or(rest.len());
        let len = if first.is_ascii_alphanumeric() {
            run(|c| c.is_ascii_alphanumeric())
        } else if first.is_whitespace() {
            run(char::is_whitespace)
        } else {
            first.len_utf8()
        };
        let (token, tail) = rest.split_at(len);
        tokens.push(token);
        rest = tail;
    }
    tokens
}

/// The `fake-llm` subcommand's script: after `latency`, a valid suggestion
/// for an item of `responses` responses under the default questions
/// (safety, helpfulness, harmlessness), at logprob -0.05 per token.
pub fn benchmark_script(
    latency: Duration,
    responses: usize,
) -> impl Fn(&Value, usize) -> Reply + Send + Sync + 'static {
    let safe = vec![json!({"safe": true, "categories": [], "severity": 0}); responses];
    let ranking: Vec<usize> = (0..responses).collect();
    let text = json!({
        "labels": {"responses": safe, "helpfulness": ranking, "harmlessness": ranking},
        "scores": {"helpfulness": 0.9, "harmlessness": 0.9},
    })
    .to_string();
    move |_, _| {
        let content = Reply::Content {
            text: text.clone(),
            logprob: Some(-0.05),
        };
        if latency.is_zero() {
            content
        } else {
            Reply::Slow {
                delay: latency,
                then: Box::new(content),
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so a long benchmark does not pile them up.
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _)) => {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // Out of file descriptors, say: wait rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A request as read off the wire.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What to do once a request is handled.
enum Outcome {
    Respond(Response),
    Drop,
}

struct Response {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

const MAX_HEAD: u64 = 64 * 1024;
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Serves requests on one connection until the client closes it, asks to,
/// sends something unreadable, or the script says [`Reply::Drop`].
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Small answers written at once: Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let mut stream = BufReader::new(stream);
    loop {
        let request = match read_request(&mut stream).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let bad = error_response(400, None, &e.to_string());
                    let _ = stream.get_mut().write_all(&encode(&bad)).await;
                }
                return;
            }
        };
        let close = request.wants_close();
        let Outcome::Respond(response) = handle(&shared, request).await else {
            return;
        };
        let written = stream.get_mut().write_all(&encode(&response)).await;
        if written.is_err() || close {
            return;
        }
    }
}

/// Reads one request; `None` when the client closed between requests.
async fn read_request(stream: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut head = (&mut *stream).take(MAX_HEAD);
    let mut line = String::new();
    if head.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    // Owned now: `line` is reused for the headers.
    let method = method.to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if head.read_line(&mut line).await? == 0 || !line.ends_with('\n') {
            return Err(invalid("headers cut short or too long"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    // Only Content-Length bodies: OpenAI clients send no chunked requests.
    if request.header("transfer-encoding").is_some() {
        return Err(invalid("chunked request bodies are not supported"));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v.parse().map_err(|_| invalid("bad Content-Length"))?,
    };
    if length > MAX_BODY {
        return Err(invalid("request body too large"));
    }
    request.body.resize(length, 0);
    stream.read_exact(&mut request.body).await?;
    Ok(Some(request))
}

async fn handle(shared: &Shared, request: Request) -> Outcome {
    let refuse = |status, message: &str| Outcome::Respond(error_response(status, None, message));
    if request.path != "/v1/chat/completions" {
        return refuse(404, &format!("no route {}", request.path));
    }
    if request.method != "POST" {
        return refuse(405, &format!("{} not allowed; use POST", request.method));
    }
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => return refuse(400, &format!("request body is not JSON: {e}")),
    };
    let attempt = shared.record(&body, request.headers);
    let mut reply = (shared.script)(&body, attempt);
    loop {
        reply = match reply {
            Reply::Slow { delay, then } => {
                tokio::time::sleep(delay).await;
                *then
            }
            Reply::Content { text, logprob } => {
                let id = shared.completions.fetch_add(1, Ordering::Relaxed);
                return Outcome::Respond(completion(id, &body, &text, logprob));
            }
            Reply::Status {
                code,
                retry_after,
                message,
            } => return Outcome::Respond(error_response(code, retry_after, &message)),
            Reply::Drop => return Outcome::Drop,
        }
    }
}

/// A chat completion as OpenAI's API gives it.
fn completion(id: u64, request: &Value, text: &str, logprob: Option<f64>) -> Response {
    let tokens = tokenize(text);
    let logprobs = match logprob {
        Some(lp) if request["logprobs"] == true => {
            let content: Vec<Value> = tokens
                .iter()
                .map(|t| json!({"token": t, "logprob": lp, "bytes": t.as_bytes(), "top_logprobs": []}))
                .collect();
            json!({ "content": content })
        }
        _ => Value::Null,
    };
    let prompt_tokens: usize = messages(request).map(|m| words(&m["content"])).sum();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": logprobs,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens.len(),
            "total_tokens": prompt_tokens + tokens.len(),
        },
    });
    Response {
        status: 200,
        retry_after: None,
        body,
    }
}

/// Whitespace-separated words of a message's content: a string, or an
/// array of `{"type":"text","text":...}` parts.
fn words(content: &Value) -> usize {
    match content {
        Value::String(s) => s.split_whitespace().count(),
        Value::Array(parts) => parts.iter().map(|p| words(&p["text"])).sum(),
        _ => 0,
    }
}

fn error_response(status: u16, retry_after: Option<u64>, message: &str) -> Response {
    // The error types OpenAI uses, so clients that branch on them can be tested.
    let kind = match status {
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    Response {
        status,
        retry_after,
        body: json!({"error": {"message": message, "type": kind}}),
    }
}

fn encode(response: &Response) -> Vec<u8> {
    let body = response.body.to_string();
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n",
        response.status,
        body.len()
    );
    if let Some(seconds) = response.retry_after {
        head.push_str(&format!("Retry-After: {seconds}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(text: &str, logprob: Option<f64>) -> Reply {
        Reply::Content {
            text: text.into(),
            logprob,
        }
    }

    fn chat(prompt: &str) -> Value {
        json!({
            "model": "fake-model",
            "messages": [
                {"role": "system", "content": "You label things."},
                {"role": "user", "content": prompt},
            ],
        })
    }

    async fn post(server: &FakeLlm, body: &Value) -> reqwest::Response {
        let url = format!("{}/chat/completions", server.base_url());
        let sent = reqwest::Client::new().post(url).json(body).send().await;
        sent.expect("an answer")
    }

    #[test]
    fn tokens_join_to_the_text() {
        let text = "Héllo,  wörld 42x!\n{\"a\":1}";
        let tokens = tokenize(text);
        assert_eq!(tokens.concat(), text);
        assert_eq!(
            tokens[..6],
            ["H", "é", "llo", ",", "  ", "w"],
            "non-ASCII letters stand alone"
        );
        assert!(tokens.contains(&"42x") && tokens.contains(&"\n"));
        assert!(tokenize("").is_empty());
    }

    #[tokio::test]
    async fn a_completion_has_openai_shape_and_usage() {
        let server = FakeLlm::start(|_, _| content("Hello, world!", Some(-0.5)))
            .await
            .unwrap();
        let response = post(&server, &chat("Rate this reply please")).await;
        assert_eq!(response.status(), 200);
        let keep_alive = response.headers()["connection"].to_str().unwrap();
        assert_eq!(keep_alive, "keep-alive");
        let body: Value = response.json().await.unwrap();
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(body["object"], "chat.completion");
        assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(body["model"], "fake-model");
        let choice = &body["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["message"]["content"], "Hello, world!");
        assert_eq!(choice["finish_reason"], "stop");
        assert_eq!(choice["logprobs"], Value::Null, "not asked for");
        // 3 + 4 words in; "Hello" "," " " "world" "!" out.
        let usage = json!({"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12});
        assert_eq!(body["usage"], usage);
    }

    #[tokio::test]
    async fn logprobs_only_when_asked_and_given() {
        let server = FakeLlm::start(|body, _| {
            let logprob = (first_user_message(body) != "no logprob").then_some(-0.25);
            content("{\"safe\": true}", logprob)
        })
        .await
        .unwrap();
        let mut asked = chat("with");
        asked["logprobs"] = json!(true);
        let body: Value = post(&server, &asked).await.json().await.unwrap();
        let listed = body["choices"][0]["logprobs"]["content"]
            .as_array()
            .unwrap();
        let tokens: Vec<&str> = listed
            .iter()
            .map(|t| t["token"].as_str().unwrap())
            .collect();
        assert_eq!(tokens.concat(), "{\"safe\": true}");
        assert_eq!(tokens.len(), 8);
        for token in listed {
            assert_eq!(token["logprob"], -0.25);
            let bytes = token["token"].as_str().unwrap().as_bytes();
            assert_eq!(token["bytes"], json!(bytes));
            assert_eq!(token["top_logprobs"], json!([]));
        }
        let mut without = chat("no logprob");
        without["logprobs"] = json!(true);
        let body: Value = post(&server, &without).await.json().await.unwrap();
        assert_eq!(body["choices"][0]["logprobs"], Value::Null);
    }

    #[tokio::test]
    async fn a_status_carries_its_error_body_and_retry_after() {
        let server = FakeLlm::start(|body, _| Reply::Status {
            code: if first_user_message(body) == "busy" {
                429
            } else {
                500
            },
            retry_after: (first_user_message(body) == "busy").then_some(7),
            message: "slow down".into(),
        })
        .await
        .unwrap();
        let response = post(&server, &chat("busy")).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        let body: Value = response.json().await.unwrap();
        let error = json!({"error": {"message": "slow down", "type": "rate_limit_error"}});
        assert_eq!(body, error);
        let response = post(&server, &chat("broken")).await;
        assert_eq!(response.status(), 500);
        assert!(response.headers().get("retry-after").is_none());
    }

    #[tokio::test]
    async fn a_slow_reply_outlasts_a_short_timeout_and_is_still_recorded() {
        let server = FakeLlm::start(|_, _| Reply::Slow {
            delay: Duration::from_secs(5),
            then: Box::new(content("late", None)),
        })
        .await
        .unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let url = format!("{}/chat/completions", server.base_url());
        let error = client.post(url).json(&chat("hi")).send().await.unwrap_err();
        assert!(error.is_timeout(), "{error}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn a_drop_is_a_connection_error_and_is_recorded() {
        let server = FakeLlm::start(|_, _| Reply::Drop).await.unwrap();
        let url = format!("{}/chat/completions", server.base_url());
        let sent = reqwest::Client::new().post(url).json(&chat("hi")).send();
        let error = sent.await.unwrap_err();
        assert!(!error.is_timeout() && !error.is_status(), "{error}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn attempts_count_per_first_user_message() {
        // Fail every item's first try, answer its second.
        let server = FakeLlm::start(|_, attempt| match attempt {
            0 => Reply::Status {
                code: 503,
                retry_after: None,
                message: "overloaded".into(),
            },
            _ => content("ok", None),
        })
        .await
        .unwrap();
        let mut statuses = Vec::new();
        for prompt in ["a", "b", "a", "a", "b"] {
            statuses.push(post(&server, &chat(prompt)).await.status().as_u16());
        }
        assert_eq!(statuses, [503, 503, 200, 200, 200]);
        let seen = server.requests();
        let attempts: Vec<(&str, usize)> = seen
            .iter()
            .map(|s| (first_user_message(&s.body), s.attempt))
            .collect();
        assert_eq!(attempts, [("a", 0), ("b", 0), ("a", 1), ("a", 2), ("b", 1)]);
    }

    #[tokio::test]
    async fn one_connection_serves_several_requests() {
        let server = FakeLlm::start(|_, _| content("ok", None)).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/chat/completions", server.base_url());
        for prompt in ["one", "two", "three"] {
            let response = client.post(&url).json(&chat(prompt)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["choices"][0]["message"]["content"], "ok");
        }
        assert_eq!(server.requests().len(), 3);
        assert_eq!(server.shared.connections.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn requests_keep_their_headers() {
        let server = FakeLlm::start(|_, _| content("ok", None)).await.unwrap();
        let url = format!("{}/chat/completions", server.base_url());
        let request = reqwest::Client::new().post(url).bearer_auth("sk-test");
        request.json(&chat("hi")).send().await.unwrap();
        let seen = server.requests();
        let headers = &seen[0].headers;
        assert!(headers.contains(&("authorization".into(), "Bearer sk-test".into())));
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        assert_eq!(seen[0].body, chat("hi"));
    }

    #[tokio::test]
    async fn wrong_path_method_or_body_are_refused() {
        let server = FakeLlm::start(|_, _| content("ok", None)).await.unwrap();
        let client = reqwest::Client::new();
        let base = server.base_url();
        let missing = client.post(format!("{base}/completions")).json(&chat("x"));
        assert_eq!(missing.send().await.unwrap().status(), 404);
        let get = client.get(format!("{base}/chat/completions"));
        assert_eq!(get.send().await.unwrap().status(), 405);
        let garbage = client
            .post(format!("{base}/chat/completions"))
            .body("{not json");
        let response = garbage.send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(server.requests().is_empty(), "none reached the script");
    }

    #[tokio::test]
    async fn the_benchmark_script_answers_valid_labels() {
        let server = FakeLlm::start(benchmark_script(Duration::from_millis(1), 3))
            .await
            .unwrap();
        let mut asked = chat("item");
        asked["logprobs"] = json!(true);
        let body: Value = post(&server, &asked).await.json().await.unwrap();
        let text = body["choices"][0]["message"]["content"].as_str().unwrap();
        let answer: Value = serde_json::from_str(text).unwrap();
        let safe = json!({"safe": true, "categories": [], "severity": 0});
        assert_eq!(answer["labels"]["responses"], json!([safe, safe, safe]));
        assert_eq!(answer["labels"]["helpfulness"], json!([0, 1, 2]));
        assert_eq!(answer["labels"]["harmlessness"], json!([0, 1, 2]));
        assert_eq!(answer["scores"]["harmlessness"], 0.9);
        assert_eq!(
            body["choices"][0]["logprobs"]["content"][0]["logprob"],
            -0.05
        );
    }
}
