//! Fault injection: rules matched against each request (after routing, before handling) and
//! a small seeded RNG so probabilistic faults are reproducible.

use std::time::Duration;

/// SplitMix64: tiny, seedable, good enough for test reproducibility.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// An error response with a proper `Status` body (409 Conflict, 500 InternalError, ...).
    Status(u16),
    /// 429 TooManyRequests with `Retry-After` (seconds).
    TooManyRequests { retry_after_secs: u64 },
    /// Handle the request normally, after this delay.
    Delay(Duration),
    /// Handle the request at once, then hold the response for this long: a list's snapshot is
    /// taken (and its resourceVersion fixed) before writes that go on meanwhile, as on a real
    /// API server whose large lists take seconds to arrive.
    HoldResponse(Duration),
    /// Never answer (until the fake shuts down); exercises client-side timeouts.
    Hang,
    /// Fail at the transport level, as a refused connection.
    ConnectionRefused,
}

/// Which verbs a rule matches.
#[derive(Debug, Clone, PartialEq)]
pub enum VerbMatch {
    Any,
    /// get, list, watch
    Reads,
    /// create, update, patch, apply, delete, deletecollection
    Writes,
    Verbs(Vec<String>),
}

impl VerbMatch {
    pub fn matches(&self, verb: &str) -> bool {
        match self {
            VerbMatch::Any => true,
            VerbMatch::Reads => is_read(verb),
            VerbMatch::Writes => !is_read(verb) && !verb.is_empty(),
            VerbMatch::Verbs(vs) => vs.iter().any(|v| v == verb),
        }
    }
}

pub fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch" | "discovery")
}

#[derive(Debug, Clone)]
pub struct FaultRule {
    pub action: FaultAction,
    pub verbs: VerbMatch,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub name: Option<String>,
    /// Only requests that ask for metadata only (`Some(true)`) or for whole objects.
    pub metadata_only: Option<bool>,
    pub probability: f64,
    /// How many more times the rule may fire; `None` is unlimited.
    pub remaining: Option<usize>,
}

impl FaultRule {
    pub fn new(action: FaultAction) -> Self {
        Self {
            action,
            verbs: VerbMatch::Any,
            resource: None,
            subresource: None,
            name: None,
            metadata_only: None,
            probability: 1.0,
            remaining: None,
        }
    }
    pub fn status(code: u16) -> Self {
        Self::new(FaultAction::Status(code))
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(FaultAction::TooManyRequests { retry_after_secs })
    }
    pub fn delay(d: Duration) -> Self {
        Self::new(FaultAction::Delay(d))
    }
    pub fn hold_response(d: Duration) -> Self {
        Self::new(FaultAction::HoldResponse(d))
    }
    pub fn hang() -> Self {
        Self::new(FaultAction::Hang)
    }
    pub fn refuse() -> Self {
        Self::new(FaultAction::ConnectionRefused)
    }
    pub fn reads(mut self) -> Self {
        self.verbs = VerbMatch::Reads;
        self
    }
    pub fn writes(mut self) -> Self {
        self.verbs = VerbMatch::Writes;
        self
    }
    pub fn verb(mut self, verb: &str) -> Self {
        match &mut self.verbs {
            VerbMatch::Verbs(vs) => vs.push(verb.into()),
            _ => self.verbs = VerbMatch::Verbs(vec![verb.into()]),
        }
        self
    }
    /// Resource plural, e.g. "deployments".
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.into());
        self
    }
    pub fn subresource(mut self, sub: &str) -> Self {
        self.subresource = Some(sub.into());
        self
    }
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Only requests for metadata only (`Accept: ...;as=PartialObjectMetadata...`).
    pub fn metadata_only(mut self) -> Self {
        self.metadata_only = Some(true);
        self
    }
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(n);
        self
    }

    pub(crate) fn matches(
        &self,
        verb: &str,
        resource: &str,
        sub: Option<&str>,
        name: Option<&str>,
    ) -> bool {
        self.remaining != Some(0)
            && self.verbs.matches(verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self.subresource.as_deref().is_none_or(|s| Some(s) == sub)
            && self.name.as_deref().is_none_or(|n| Some(n) == name)
    }
}

pub(crate) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}
