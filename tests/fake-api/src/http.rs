//! The HTTP face of the fake: a `tower::Service` that `kube::Client::new` drives directly (no
//! sockets). It routes `/api`, `/apis` and resource paths, applies faults, records every
//! request, and turns store results into the responses and `Status` bodies kube expects.

use super::faults::{FaultAction, reason_for};
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ApiError, DeleteOpts, KindInfo, PatchType, Propagation, State, WriteCtx};
use super::watch::{self, WatchSpec, metadata_only};
use super::{Inner, RequestRecord};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::BoxError;

pub type RespBody = UnsyncBoxBody<Bytes, Infallible>;

#[derive(Clone)]
pub struct FakeService {
    pub(crate) inner: Arc<Inner>,
    pub(crate) timeout: Option<Duration>,
}

impl tower::Service<Request<kube::client::Body>> for FakeService {
    type Response = Response<RespBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let inner = self.inner.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                // Like the read timeout of kube's real HTTP stack: the caller gets a
                // transport error, whatever the server is still doing.
                Some(t) => tokio::time::timeout(t, handle(inner, req))
                    .await
                    .map_err(|_| BoxError::from("request timed out (fake API client timeout)"))?,
                None => handle(inner, req).await,
            }
        })
    }
}

fn transport_error(msg: &str) -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        msg.to_string(),
    ))
}

fn full(code: u16, v: &Value) -> Response<RespBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(v).expect("json"))).boxed_unsync())
        .expect("response")
}

fn error_response(e: &ApiError) -> Response<RespBody> {
    let mut r = full(e.code, &e.status_json());
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, s.to_string().parse().expect("header"));
    }
    r
}

/// Where a request goes.
enum Route {
    Discovery(Value),
    Version,
    Resource {
        kind: KindInfo,
        ns: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
    NotFound,
}

fn resource_list(st: &State, group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&KindInfo> = st
        .kinds
        .values()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    let mut resources = Vec::new();
    for k in &kinds {
        resources.push(json!({
            "name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
            "kind": k.kind, "verbs": verbs,
        }));
        if k.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced,
                "kind": k.kind, "verbs": ["get", "patch", "update"],
            }));
        }
        if k.scale.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", k.plural), "singularName": "", "namespaced": k.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
            }));
        }
    }
    Some(json!({
        "kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": kinds[0].api_version(), "resources": resources,
    }))
}

fn group_json(st: &State, group: &str) -> Option<Value> {
    let mut versions: Vec<String> = st
        .kinds
        .values()
        .filter(|k| k.group == group)
        .map(|k| k.version.clone())
        .collect();
    versions.dedup();
    let first = versions.first()?.clone();
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    Some(json!({
        "name": group, "versions": vs,
        "preferredVersion": {"groupVersion": format!("{group}/{first}"), "version": first},
    }))
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`), which `Discovery::run_aggregated` asks
/// for with an `Accept` header on `/api` and `/apis`.
fn aggregated(st: &State, core: bool) -> Value {
    let mut groups: Vec<&str> = st.kinds.values().map(|k| k.group.as_str()).collect();
    groups.dedup();
    groups.retain(|g| g.is_empty() == core);
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            let kinds: Vec<&KindInfo> = st.kinds.values().filter(|k| k.group == *g).collect();
            let resources: Vec<Value> = kinds
                .iter()
                .map(|k| {
                    let rk = json!({"group": k.group, "version": k.version, "kind": k.kind});
                    let subs: Vec<Value> = if k.status_subresource {
                        vec![json!({"subresource": "status", "responseKind": rk, "verbs": ["get", "patch", "update"]})]
                    } else {
                        vec![]
                    };
                    json!({
                        "resource": k.plural, "responseKind": rk,
                        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": k.kind.to_lowercase(), "verbs": verbs, "subresources": subs,
                    })
                })
                .collect();
            json!({
                "metadata": {"name": g},
                "versions": [{"version": kinds[0].version, "resources": resources, "freshness": "Current"}],
            })
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn route(st: &State, path: &str, accept: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if accept.contains("apidiscovery.k8s.io") {
        match segs.as_slice() {
            ["api"] => return Route::Discovery(aggregated(st, true)),
            ["apis"] => return Route::Discovery(aggregated(st, false)),
            _ => {}
        }
    }
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["api"] => Route::Discovery(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
        })),
        ["apis"] => {
            let mut groups: Vec<&str> = st
                .kinds
                .values()
                .map(|k| k.group.as_str())
                .filter(|g| !g.is_empty())
                .collect();
            groups.dedup();
            let gs: Vec<Value> = groups.iter().filter_map(|g| group_json(st, g)).collect();
            Route::Discovery(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs}))
        }
        ["api", "v1"] => resource_list(st, "", "v1").map_or(Route::NotFound, Route::Discovery),
        ["apis", g] => group_json(st, g).map_or(Route::NotFound, |mut v| {
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            Route::Discovery(v)
        }),
        ["apis", g, v] => resource_list(st, g, v).map_or(Route::NotFound, Route::Discovery),
        ["api", "v1", rest @ ..] => resource_route(st, "", "v1", rest),
        ["apis", g, v, rest @ ..] => resource_route(st, g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(st: &State, group: &str, version: &str, rest: &[&str]) -> Route {
    let kind = |plural: &str| st.kind(group, plural).filter(|k| k.version == version);
    let s = |x: Option<&&str>| x.map(|v| v.to_string());
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(k) = kind(plural).filter(|k| k.namespaced)
    {
        if tail.len() > 2 {
            return Route::NotFound;
        }
        return Route::Resource {
            kind: k,
            ns: Some(ns.to_string()),
            name: s(tail.first()),
            sub: s(tail.get(1)),
        };
    }
    let [plural, tail @ ..] = rest else {
        return Route::NotFound;
    };
    let Some(k) = kind(plural) else {
        return Route::NotFound;
    };
    if tail.len() > 2 || (k.namespaced && !tail.is_empty()) {
        return Route::NotFound;
    }
    Route::Resource {
        kind: k,
        ns: None,
        name: s(tail.first()),
        sub: s(tail.get(1)),
    }
}

fn verb(method: &Method, name: bool, q: &HashMap<String, String>, ctype: &str) -> &'static str {
    match *method {
        Method::GET if name => "get",
        Method::GET if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH if ctype.starts_with("application/apply-patch") => "apply",
        Method::PATCH => "patch",
        Method::DELETE if name => "delete",
        Method::DELETE => "deletecollection",
        _ => "",
    }
}

fn not_found_route() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .with_details(json!({}))
}

async fn handle(
    inner: Arc<Inner>,
    req: Request<kube::client::Body>,
) -> Result<Response<RespBody>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(BoxError::from)?.to_bytes();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let hdr = |h: header::HeaderName| {
        parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (ctype, accept, ua) = (
        hdr(header::CONTENT_TYPE),
        hdr(header::ACCEPT),
        hdr(header::USER_AGENT),
    );

    let mut rec = RequestRecord {
        verb: String::new(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: None,
        namespace: None,
        name: None,
        status: 0,
        field_manager: q.get("fieldManager").cloned(),
        content_type: (!ctype.is_empty()).then(|| ctype.clone()),
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        metadata_only: accept.contains("as=PartialObjectMetadata"),
    };

    // Transport-level failure and routing, then fault selection, all under the lock.
    let (route, fault) = {
        let mut st = inner.state.lock().expect("state lock");
        if st.down || st.shut_down {
            st.requests.push(rec);
            return Err(transport_error(
                "connection refused (fake API server is down)",
            ));
        }
        let route = route(&st, &path, &accept);
        match &route {
            Route::Resource {
                kind,
                ns,
                name,
                sub,
            } => {
                rec.verb = verb(&parts.method, name.is_some(), &q, &ctype).into();
                rec.group = kind.group.clone();
                rec.version = kind.version.clone();
                rec.resource = kind.plural.clone();
                rec.namespace = ns.clone();
                rec.name = name.clone();
                rec.subresource = sub.clone();
            }
            _ => {
                rec.verb = if parts.method == Method::GET {
                    "get".into()
                } else {
                    String::new()
                }
            }
        }
        let mut fault = None;
        let State {
            faults, fault_rng, ..
        } = &mut *st;
        for f in faults.iter_mut() {
            if f.matches(
                &rec.verb,
                &rec.resource,
                rec.subresource.as_deref(),
                rec.name.as_deref(),
            ) && f.metadata_only.is_none_or(|m| m == rec.metadata_only)
                && (f.probability >= 1.0 || fault_rng.next_f64() < f.probability)
            {
                if let Some(n) = f.remaining.as_mut() {
                    *n -= 1;
                }
                fault = Some(f.action.clone());
                break;
            }
        }
        (route, fault)
    };
    let record = |rec: RequestRecord| inner.state.lock().expect("state lock").requests.push(rec);

    match fault {
        Some(FaultAction::Status(code)) => {
            let e = ApiError::new(
                code,
                reason_for(code),
                format!("injected fault: {}", reason_for(code)),
            );
            let e = if code == 409 {
                match &route {
                    Route::Resource { kind, name, .. } => {
                        ApiError::conflict(kind, name.as_deref().unwrap_or(""))
                    }
                    _ => e,
                }
            } else {
                e
            };
            rec.status = code;
            record(rec);
            return Ok(error_response(&e));
        }
        Some(FaultAction::TooManyRequests { retry_after_secs }) => {
            let mut e = ApiError::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            );
            e.retry_after = Some(retry_after_secs);
            rec.status = 429;
            record(rec);
            return Ok(error_response(&e));
        }
        Some(FaultAction::ConnectionRefused) => {
            record(rec);
            return Err(transport_error("connection refused (injected fault)"));
        }
        Some(FaultAction::Hang) => {
            record(rec);
            let mut rx = inner.shutdown.subscribe();
            let _ = rx.wait_for(|down| *down).await;
            return Err(transport_error(
                "connection closed (fake API server shut down)",
            ));
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::HoldResponse(_)) | None => {}
    }
    let hold = match fault {
        Some(FaultAction::HoldResponse(d)) => Some(d),
        _ => None,
    };

    let resp = match route {
        Route::NotFound => Err(not_found_route()),
        Route::Version => Ok((
            200,
            json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64",
            }),
        )),
        Route::Discovery(v) => Ok((200, v)),
        Route::Resource {
            kind,
            ns,
            name,
            sub,
        } => {
            let ctx = RequestCtx {
                inner: &inner,
                q: &q,
                body: &body,
                ctype: &ctype,
                accept: &accept,
                ua: &ua,
            };
            if rec.verb == "watch" {
                match ctx.watch(kind, ns) {
                    Ok(r) => {
                        rec.status = 200;
                        record(rec);
                        // The watch is registered: events that happen meanwhile are queued.
                        if let Some(d) = hold {
                            tokio::time::sleep(d).await;
                        }
                        return Ok(r);
                    }
                    Err(e) => Err(e),
                }
            } else {
                ctx.resource(
                    &rec.verb,
                    &kind,
                    ns.as_deref(),
                    name.as_deref(),
                    sub.as_deref(),
                )
            }
        }
    };
    let out = match resp {
        Ok((code, v)) => {
            rec.status = code;
            full(code, &v)
        }
        Err(e) => {
            rec.status = e.code;
            error_response(&e)
        }
    };
    record(rec);
    if let Some(d) = hold {
        tokio::time::sleep(d).await;
    }
    Ok(out)
}

struct RequestCtx<'a> {
    inner: &'a Arc<Inner>,
    q: &'a HashMap<String, String>,
    body: &'a Bytes,
    ctype: &'a str,
    accept: &'a str,
    ua: &'a str,
}

impl RequestCtx<'_> {
    fn param(&self, k: &str) -> Option<&str> {
        self.q.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn selectors(&self) -> Result<(Option<LabelSelector>, Option<FieldSelector>), ApiError> {
        let l = self
            .param("labelSelector")
            .map(LabelSelector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let f = self
            .param("fieldSelector")
            .map(FieldSelector::parse)
            .transpose()
            .map_err(ApiError::bad_request)?;
        Ok((l, f))
    }

    fn metadata_only(&self) -> bool {
        self.accept.contains("as=PartialObjectMetadata")
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        if self.ctype.starts_with("application/apply-patch") {
            serde_yaml_ng::from_slice(self.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        } else {
            serde_json::from_slice(self.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))
        }
    }

    fn write_ctx(&self, sub: Option<&str>) -> WriteCtx {
        // The real server falls back to the User-Agent prefix when no fieldManager is given.
        let ua = self.ua.split('/').next().unwrap_or("");
        let manager =
            self.param("fieldManager")
                .unwrap_or(if ua.is_empty() { "unknown" } else { ua });
        WriteCtx {
            manager: manager.into(),
            subresource: sub.map(String::from),
            dry_run: self.param("dryRun") == Some("All"),
            force: self.param("force") == Some("true"),
        }
    }

    fn watch(&self, kind: KindInfo, ns: Option<String>) -> Result<Response<RespBody>, ApiError> {
        let (labels, fields) = self.selectors()?;
        let timeout = self
            .param("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(1800u64);
        let spec = WatchSpec {
            kind,
            ns,
            labels,
            fields,
            rv: self.param("resourceVersion").map(String::from),
            bookmarks: self.param("allowWatchBookmarks") == Some("true"),
            timeout: Duration::from_secs(timeout),
            send_initial: self.param("sendInitialEvents") == Some("true"),
            metadata_only: self.metadata_only(),
        };
        let stream = watch::start(self.inner, spec)?;
        let body = StreamBody::new(stream.map(|b| Ok::<_, Infallible>(Frame::data(b))));
        Ok(Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::TRANSFER_ENCODING, "chunked")
            .body(body.boxed_unsync())
            .expect("response"))
    }

    /// `GET`, `PUT` and merge `PATCH` of `.../scale` (see `scale`).
    fn scale(
        &self,
        st: &mut State,
        verb: &str,
        kind: &KindInfo,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Result<(u16, Value), ApiError> {
        let name = name.ok_or_else(not_found_route)?;
        let body = || -> Result<Value, ApiError> {
            match verb {
                "update" => self.json_body(),
                "patch" if self.ctype.starts_with("application/merge-patch+json") => {
                    let mut scale = st.get_scale(kind, ns, name)?;
                    super::patch::merge_patch(&mut scale, &self.json_body()?);
                    Ok(scale)
                }
                _ => Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "this fake serves the scale subresource with get, update and merge patch only",
                )),
            }
        };
        if verb == "get" {
            return Ok((200, st.get_scale(kind, ns, name)?));
        }
        let scale = body()?;
        let replicas = scale
            .pointer("/spec/replicas")
            .cloned()
            .unwrap_or(Value::Null);
        let rv = scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|_| verb == "update")
            .map(String::from);
        let ctx = self.write_ctx(Some("scale"));
        Ok((
            200,
            st.update_scale(kind, ns, name, replicas, rv.as_deref(), &ctx)?,
        ))
    }

    fn resource(
        &self,
        verb: &str,
        kind: &KindInfo,
        ns: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Result<(u16, Value), ApiError> {
        let served_sub = |s: &str| match s {
            "status" => kind.status_subresource,
            "scale" => kind.scale.is_some(),
            _ => false,
        };
        if sub.is_some_and(|s| !served_sub(s)) {
            return Err(not_found_route());
        }
        if kind.namespaced && ns.is_none() && !matches!(verb, "list" | "watch") {
            return Err(not_found_route());
        }
        let mut st = self.inner.state.lock().expect("state lock");
        if sub == Some("scale") {
            return self.scale(&mut st, verb, kind, ns, name);
        }
        let name_req = || {
            name.ok_or_else(|| {
                ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            })
        };
        match verb {
            "get" => {
                let v = st.get(kind, ns, name_req()?)?;
                Ok((
                    200,
                    if self.metadata_only() {
                        metadata_only(&v)
                    } else {
                        v
                    },
                ))
            }
            "list" => {
                let (l, f) = self.selectors()?;
                let limit = self.param("limit").and_then(|l| l.parse().ok());
                let mut list = st.list_page(
                    kind,
                    ns,
                    l.as_ref(),
                    f.as_ref(),
                    limit,
                    self.param("continue"),
                )?;
                if self.metadata_only() {
                    list["kind"] = json!("PartialObjectMetadataList");
                    list["apiVersion"] = json!("meta.k8s.io/v1");
                    let items: Vec<Value> = list["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(metadata_only)
                        .collect();
                    list["items"] = Value::Array(items);
                }
                Ok((200, list))
            }
            "create" => {
                if name.is_some() {
                    return Err(ApiError::new(
                        405,
                        "MethodNotAllowed",
                        "the server does not allow this method on the requested resource",
                    ));
                }
                let body = self.json_body()?;
                Ok((201, st.create(kind, ns, body, &self.write_ctx(sub))?))
            }
            "update" => {
                let body = self.json_body()?;
                Ok((
                    200,
                    st.replace(kind, ns, name_req()?, body, &self.write_ctx(sub))?,
                ))
            }
            "patch" | "apply" => {
                let ptype = match self.ctype.split(';').next().unwrap_or("").trim() {
                    "application/merge-patch+json" => PatchType::Merge,
                    "application/json-patch+json" => PatchType::Json,
                    "application/strategic-merge-patch+json" => PatchType::Strategic,
                    "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                        PatchType::Apply
                    }
                    other => {
                        return Err(ApiError::new(
                            415,
                            "UnsupportedMediaType",
                            format!(
                                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                            ),
                        ));
                    }
                };
                let ctx = self.write_ctx(sub);
                if ptype == PatchType::Apply && self.param("fieldManager").is_none() {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    ));
                }
                let body = self.json_body()?;
                let (v, created) = st.patch(kind, ns, name_req()?, ptype, body, &ctx)?;
                Ok((if created { 201 } else { 200 }, v))
            }
            "delete" | "deletecollection" => {
                let body = self.json_body()?;
                let prop = body
                    .get("propagationPolicy")
                    .and_then(Value::as_str)
                    .or(self.param("propagationPolicy"));
                let opts = DeleteOpts {
                    propagation: match prop {
                        Some("Foreground") => Propagation::Foreground,
                        Some("Orphan") => Propagation::Orphan,
                        _ => Propagation::Background,
                    },
                    precondition_rv: body
                        .pointer("/preconditions/resourceVersion")
                        .and_then(Value::as_str)
                        .map(String::from),
                    precondition_uid: body
                        .pointer("/preconditions/uid")
                        .and_then(Value::as_str)
                        .map(String::from),
                    dry_run: self.param("dryRun") == Some("All")
                        || body
                            .get("dryRun")
                            .and_then(Value::as_array)
                            .is_some_and(|a| !a.is_empty()),
                };
                if verb == "deletecollection" {
                    let (l, f) = self.selectors()?;
                    return Ok((
                        200,
                        st.delete_collection(kind, ns, l.as_ref(), f.as_ref(), &opts)?,
                    ));
                }
                let (v, gone) = st.delete(kind, ns, name_req()?, &opts)?;
                if gone {
                    Ok((
                        200,
                        json!({
                            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": {
                                "name": name, "group": kind.group, "kind": kind.plural,
                                "uid": v.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                            },
                        }),
                    ))
                } else {
                    Ok((200, v))
                }
            }
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )),
        }
    }
}
