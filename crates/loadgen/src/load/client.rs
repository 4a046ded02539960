//! One annotator's view of the JSON API: a base URL, a bearer token, and
//! calls that time themselves into the annotator's [`Tally`].

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::tally::{Endpoint, Tally};

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No HTTP answer: refused, reset, timed out.
    Transport(String),
    /// An HTTP answer other than the expected one; `code` from the API's
    /// `{"error": {"code"}}` body when there is one.
    Status {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// A success whose body was not what the API documents.
    Body(String),
}

impl Failure {
    /// The kind, for counting: `"submit: 409 conflict"`, `"lease: connection"`.
    pub fn kind(&self, endpoint: Endpoint) -> String {
        let name = endpoint.name();
        match self {
            Failure::Transport(_) => format!("{name}: no answer (connection)"),
            Failure::Status { status, code, .. } => format!("{name}: {} {code}", status.as_u16()),
            Failure::Body(_) => format!("{name}: unexpected body"),
        }
    }

    /// Said in full, for setup errors.
    pub fn describe(&self) -> String {
        match self {
            Failure::Transport(e) => format!("no answer: {e}"),
            Failure::Status {
                status, message, ..
            } => format!("{status}: {message}"),
            Failure::Body(e) => format!("unexpected body: {e}"),
        }
    }
}

/// An annotator's connection to one server.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    /// One call: 2xx gives the JSON body (`Null` for 204), anything else a
    /// [`Failure`]; the time it took goes into `tally`.
    pub async fn call(
        &self,
        tally: &mut Tally,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Failure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let outcome = async {
            let response = request.send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        }
        .await;
        tally.time(endpoint, started.elapsed());
        let (status, bytes) = outcome.map_err(|e| Failure::Transport(e.to_string()))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                if status.is_success() {
                    Failure::Body(e.to_string())
                } else {
                    Failure::Status {
                        status,
                        code: "not-json".into(),
                        message: String::from_utf8_lossy(&bytes).into_owned(),
                    }
                }
            })?
        };
        if status.is_success() {
            return Ok((status, value));
        }
        let error = &value["error"];
        Err(Failure::Status {
            status,
            code: error["code"].as_str().unwrap_or("").to_string(),
            message: error["message"].as_str().unwrap_or("").to_string(),
        })
    }

    /// Signs in; keeps the bearer token.
    pub async fn sign_in(
        &mut self,
        tally: &mut Tally,
        username: &str,
        password: &str,
    ) -> Result<(), Failure> {
        let body = json!({"username": username, "password": password});
        let (_, value) = self
            .call(
                tally,
                Endpoint::SignIn,
                Method::POST,
                "/api/v1/session",
                Some(&body),
            )
            .await?;
        let token = value["token"]
            .as_str()
            .ok_or_else(|| Failure::Body("no token".into()))?;
        self.token = Some(token.to_string());
        Ok(())
    }

    pub async fn sign_out(&mut self, tally: &mut Tally) -> Result<(), Failure> {
        self.call(
            tally,
            Endpoint::SignOut,
            Method::DELETE,
            "/api/v1/session",
            None,
        )
        .await?;
        self.token = None;
        Ok(())
    }

    /// The caller's lease: `Some((assignment id, number of responses))`, or
    /// None when nothing is left for them (204).
    pub async fn lease(
        &self,
        tally: &mut Tally,
        project: Uuid,
    ) -> Result<Option<(Uuid, usize)>, Failure> {
        let path = format!("/api/v1/projects/{project}/lease");
        let (status, value) = self
            .call(tally, Endpoint::Lease, Method::POST, &path, None)
            .await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        lease_of(&value).map(Some)
    }

    /// Submits; the annotation id the server stored (or had stored), and,
    /// when `next` asked for it, the next lease the answer carried (none
    /// when it carried none: nothing left, or the lease call must say why).
    pub async fn submit(
        &self,
        tally: &mut Tally,
        endpoint: Endpoint,
        assignment: Uuid,
        body: &Value,
        next: bool,
    ) -> Result<(Uuid, Option<(Uuid, usize)>), Failure> {
        let query = if next { "?next=1" } else { "" };
        let path = format!("/api/v1/assignments/{assignment}/submit{query}");
        let (_, value) = self
            .call(tally, endpoint, Method::POST, &path, Some(body))
            .await?;
        let next = match &value["next"] {
            lease @ Value::Object(_) => Some(lease_of(lease)?),
            _ => None,
        };
        Ok((uuid_at(&value, "annotation_id")?, next))
    }

    pub async fn skip(
        &self,
        tally: &mut Tally,
        assignment: Uuid,
        reason: &str,
    ) -> Result<(), Failure> {
        let path = format!("/api/v1/assignments/{assignment}/skip");
        let body = json!({"reason": reason});
        self.call(tally, Endpoint::Skip, Method::POST, &path, Some(&body))
            .await
            .map(drop)
    }

    /// A project's settings and progress (`GET /api/v1/projects/{id}`).
    pub async fn project(&self, tally: &mut Tally, project: Uuid) -> Result<Value, Failure> {
        let path = format!("/api/v1/projects/{project}");
        Ok(self
            .call(tally, Endpoint::Project, Method::GET, &path, None)
            .await?
            .1)
    }

    /// The id of the project named `name` (or with that id) among the caller's.
    pub async fn find_project(
        &self,
        tally: &mut Tally,
        name: &str,
    ) -> Result<Option<Uuid>, Failure> {
        let (_, value) = self
            .call(
                tally,
                Endpoint::Project,
                Method::GET,
                "/api/v1/projects",
                None,
            )
            .await?;
        let projects = value["projects"]
            .as_array()
            .ok_or_else(|| Failure::Body("no projects list".into()))?;
        Ok(projects
            .iter()
            .find(|p| p["name"] == name || p["id"] == name)
            .and_then(|p| p["id"].as_str())
            .and_then(|id| id.parse().ok()))
    }
}

/// A lease's assignment id and number of responses.
fn lease_of(lease: &Value) -> Result<(Uuid, usize), Failure> {
    let id = uuid_at(lease, "assignment_id")?;
    let responses = lease["item"]["responses"]
        .as_array()
        .ok_or_else(|| Failure::Body("no item.responses".into()))?
        .len();
    Ok((id, responses))
}

fn uuid_at(value: &Value, key: &str) -> Result<Uuid, Failure> {
    value[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Body(format!("no {key}")))
}
