//! Watch streams: newline-delimited JSON watch events in a streaming body.
//!
//! Starting a watch happens under the state lock: the replay (history after the requested
//! resourceVersion, or synthetic ADDED events for "0"/"") is computed and the watcher's
//! channel registered in one step, so no event is missed or duplicated. After that the stream
//! only reads its own channel; writers never wait for it. Selector filtering happens here,
//! per watcher, with the transitions the real watch cache applies (an object that starts
//! matching is ADDED, one that stops matching is DELETED).

use super::Inner;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ApiError, Event, KindInfo, State, WatcherSlot};
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Instant;

pub(crate) struct WatchSpec {
    pub kind: KindInfo,
    pub ns: Option<String>,
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
    pub rv: Option<String>,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub send_initial: bool,
    pub metadata_only: bool,
}

impl WatchSpec {
    fn matches(&self, o: &Value) -> bool {
        let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
        (self.ns.is_none() || ns == self.ns.as_deref())
            && self.labels.as_ref().is_none_or(|l| l.matches(o))
            && self.fields.as_ref().is_none_or(|f| f.matches(o))
    }

    fn line(&self, etype: &str, obj: &Value) -> Bytes {
        let obj = if self.metadata_only {
            metadata_only(obj)
        } else {
            obj.clone()
        };
        let mut v = serde_json::to_vec(&json!({"type": etype, "object": obj})).expect("json");
        v.push(b'\n');
        Bytes::from(v)
    }

    /// The event this watcher sees for a change, if any.
    fn convert(&self, ev: &Event) -> Option<Bytes> {
        let now = self.matches(&ev.object);
        match ev.etype {
            "MODIFIED" => {
                let before = ev.old.as_ref().is_some_and(|o| self.matches(o));
                match (before, now) {
                    (true, true) => Some(self.line("MODIFIED", &ev.object)),
                    (false, true) => Some(self.line("ADDED", &ev.object)),
                    (true, false) => {
                        // The previous state, carrying the new resourceVersion.
                        let mut old = ev.old.clone().expect("old");
                        old["metadata"]["resourceVersion"] = json!(ev.rv.to_string());
                        Some(self.line("DELETED", &old))
                    }
                    (false, false) => None,
                }
            }
            t => now.then(|| self.line(t, &ev.object)),
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, av) = if self.metadata_only {
            (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            )
        } else {
            (self.kind.kind.clone(), self.kind.api_version())
        };
        let obj = json!({"kind": kind, "apiVersion": av, "metadata": meta});
        let mut v = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).expect("json");
        v.push(b'\n');
        Bytes::from(v)
    }
}

pub(crate) fn metadata_only(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

fn gone_line(msg: &str) -> Bytes {
    let st = ApiError::expired(msg).status_json();
    let mut v = serde_json::to_vec(&json!({"type": "ERROR", "object": st})).expect("json");
    v.push(b'\n');
    Bytes::from(v)
}

struct StreamState {
    spec: Arc<WatchSpec>,
    pending: VecDeque<Bytes>,
    rx: Option<UnboundedReceiver<Arc<Event>>>,
    deadline: Instant,
    next_bookmark: Instant,
    interval: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
    inner: Weak<Inner>,
}

/// Register a watcher and return its body stream.
pub(crate) fn start(
    inner: &Arc<Inner>,
    spec: WatchSpec,
) -> Result<BoxStream<'static, Bytes>, ApiError> {
    let spec = Arc::new(spec);
    let mut pending = VecDeque::new();
    let mut st = inner.state.lock().expect("state lock");
    let rv = spec.rv.clone().unwrap_or_default();
    let mut rx = None;
    if rv.is_empty() || rv == "0" {
        for (_, o) in st.list(
            &spec.kind,
            spec.ns.as_deref(),
            spec.labels.as_ref(),
            spec.fields.as_ref(),
        ) {
            pending.push_back(spec.line("ADDED", &o));
        }
        if spec.send_initial {
            pending.push_back(spec.bookmark(st.rv, true));
        }
        rx = Some(register(&mut st, &spec));
    } else {
        let n: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        if n < st.history_floor {
            pending.push_back(gone_line(&format!(
                "too old resource version: {n} ({})",
                st.history_floor + 1
            )));
        } else {
            for ev in st.history.iter().filter(|e| e.rv > n) {
                if ev.group == spec.kind.group
                    && ev.plural == spec.kind.plural
                    && let Some(l) = spec.convert(ev)
                {
                    pending.push_back(l);
                }
            }
            rx = Some(register(&mut st, &spec));
        }
    }
    if rx.is_some() && spec.bookmarks && !spec.send_initial {
        pending.push_back(spec.bookmark(st.rv, false));
    }
    let interval = st.bookmark_interval;
    drop(st);
    let now = Instant::now();
    let state = StreamState {
        spec: spec.clone(),
        pending,
        rx,
        deadline: now + spec.timeout,
        next_bookmark: now + interval,
        interval,
        shutdown: inner.shutdown.subscribe(),
        inner: Arc::downgrade(inner),
    };
    Ok(Box::pin(stream::unfold(state, next)))
}

fn register(st: &mut State, spec: &WatchSpec) -> UnboundedReceiver<Arc<Event>> {
    let (tx, rx) = unbounded_channel();
    st.watchers.push(WatcherSlot {
        group: spec.kind.group.clone(),
        plural: spec.kind.plural.clone(),
        tx,
    });
    rx
}

async fn next(mut s: StreamState) -> Option<(Bytes, StreamState)> {
    loop {
        if let Some(b) = s.pending.pop_front() {
            return Some((b, s));
        }
        let rx = s.rx.as_mut()?;
        if *s.shutdown.borrow() {
            return None;
        }
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => {
                    if let Some(l) = s.spec.convert(&ev) {
                        s.pending.push_back(l);
                    }
                }
                None => return None,
            },
            _ = tokio::time::sleep_until(s.deadline) => return None,
            _ = s.shutdown.changed() => return None,
            _ = tokio::time::sleep_until(s.next_bookmark), if s.spec.bookmarks => {
                s.next_bookmark = Instant::now() + s.interval;
                let inner = s.inner.upgrade()?;
                let st = inner.state.lock().expect("state lock");
                // Everything up to st.rv is already in our channel: deliver it first, so the
                // bookmark never claims a version whose event is still queued.
                while let Ok(ev) = rx.try_recv() {
                    if let Some(l) = s.spec.convert(&ev) {
                        s.pending.push_back(l);
                    }
                }
                s.pending.push_back(s.spec.bookmark(st.rv, false));
            }
        }
    }
}
