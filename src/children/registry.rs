//! How the registry list becomes code: [`registry!`] declares each kind's module and generates
//! the per-kind types, and [`Entry`] is a kind's [`Child`] rules as the shared code uses them,
//! object-safe so that [`REGISTRY`](super::REGISTRY) is a plain ordered list.
//!
//! Only the types need the macro (a struct has one field per kind); everything else is a loop
//! over the registry calling [`Entry`], implemented once for every kind by [`Registered`].

use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use kube::Client;
use kube::core::ApiResource;
use kube::runtime::reflector::Store;
use serde_json::Value;

use super::{Child, ChildKind, Children, Observed, Stores};
use crate::cache::Compact;
use crate::crd::StatelessServiceSpec;
use crate::error::Error;
use crate::observe;
use crate::planning::{Difference, Violation, differences};

/// Generates, from the list `module: Variant, ...` (in apply order):
/// - `pub mod module;` for each kind (its file `src/children/module.rs` defines `Rules`);
/// - [`ChildKind`] with one variant each, ordered as listed;
/// - [`REGISTRY`](super::REGISTRY): every kind's [`Entry`], `REGISTRY[kind as usize]`;
/// - [`Children`], [`Observed`] and [`Stores`], one field per kind named after its module;
/// - [`Slot`] for each kind's `Rules`: where its field is in those three.
macro_rules! registry {
    ($($module:ident: $Variant:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// The kinds of children, ordered as the registry: the order they are applied in.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ChildKind {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                $Variant,
            )+
        }

        impl ChildKind {
            /// Every kind, in registry order.
            pub const ALL: &'static [ChildKind] = &[$(ChildKind::$Variant,)+];
        }

        /// Every kind's rules, in registry order.
        pub static REGISTRY: &[&dyn Entry] = &[$(&registry::Registered::<$module::Rules>::NEW,)+];

        /// The desired children of one StatelessService, one field per kind (see each kind's
        /// `build` for when an optional one is `None`).
        #[derive(Clone, Debug, PartialEq)]
        pub struct Children {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                pub $module: <$module::Rules as Child>::Built,
            )+
        }

        impl Children {
            /// Builds every kind from the shared inputs.
            pub(crate) fn build_each(inputs: &Inputs<'_>) -> Self {
                Children {
                    $($module: <$module::Rules as Child>::build(inputs),)+
                }
            }
        }

        /// The live children of one service, one field per kind (absent ones are `None`).
        #[derive(Clone, Debug, Default)]
        pub struct Observed {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                pub $module: Option<std::sync::Arc<<$module::Rules as Child>::Object>>,
            )+
        }

        /// The controller's caches, one per kind.
        #[derive(Clone)]
        pub struct Stores {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                pub $module: kube::runtime::reflector::Store<
                    crate::cache::Compact<<$module::Rules as Child>::Object>,
                >,
            )+
        }

        impl Stores {
            /// One cache per kind, each started by `starter`, with what each start returned
            /// besides the cache (the controller's reconcile triggers), in registry order.
            pub fn start<S: StartCache>(starter: &S) -> (Stores, Vec<S::Triggers>) {
                let mut triggers = Vec::new();
                $(
                    let (store, started) = starter.start::<$module::Rules>();
                    triggers.push(started);
                    let $module = store;
                )+
                (Stores { $($module,)+ }, triggers)
            }
        }

        $(
            impl Slot for $module::Rules {
                const KIND: ChildKind = ChildKind::$Variant;
                fn built(children: &Children) -> &Self::Built {
                    &children.$module
                }
                fn observed(observed: &Observed) -> &Option<std::sync::Arc<Self::Object>> {
                    &observed.$module
                }
                fn observed_mut(
                    observed: &mut Observed,
                ) -> &mut Option<std::sync::Arc<Self::Object>> {
                    &mut observed.$module
                }
                fn store(
                    stores: &Stores,
                ) -> &kube::runtime::reflector::Store<crate::cache::Compact<Self::Object>> {
                    &stores.$module
                }
            }
        )+
    };
}
pub(crate) use registry;

/// Where a kind's field is in [`Children`], [`Observed`] and [`Stores`] (generated by
/// [`registry!`]).
pub trait Slot: Child {
    /// The kind's variant.
    const KIND: ChildKind;
    /// Its field in [`Children`].
    fn built(children: &Children) -> &Self::Built;
    /// Its field in [`Observed`].
    fn observed(observed: &Observed) -> &Option<Arc<Self::Object>>;
    /// Its field in [`Observed`], to fill.
    fn observed_mut(observed: &mut Observed) -> &mut Option<Arc<Self::Object>>;
    /// Its cache (compact entries, see [`crate::cache`]).
    fn store(stores: &Stores) -> &Store<Compact<Self::Object>>;
}

/// Starts the cache of one kind (the controller's watches implement it).
pub trait StartCache {
    /// What a start yields besides the cache.
    type Triggers;
    /// Starts the cache of kind `C`.
    fn start<C: Slot>(&self) -> (Store<Compact<C::Object>>, Self::Triggers);
}

/// One kind's rules as the shared code uses them: what it is, and each per-kind step of
/// planning, observing and writing.
pub trait Entry: Sync {
    /// Its variant.
    fn kind(&self) -> ChildKind;
    /// The Kubernetes kind (a bounded metrics label).
    fn as_str(&self) -> &'static str;
    /// Its API group, version and plural, for requests and RBAC.
    fn api_resource(&self) -> ApiResource;
    /// [`Child::VERBS`].
    fn verbs(&self) -> &'static [&'static str];
    /// [`Child::COMPARED`].
    fn compared(&self) -> &'static [&'static str];
    /// [`Child::DELETE_WHEN_UNWANTED`].
    fn delete_when_unwanted(&self) -> bool;
    /// [`Child::HIDE_VALUES`].
    fn hides_values(&self) -> bool;
    /// [`Child::DELETE_BEFORE_APPLY`].
    fn delete_before_apply(&self) -> bool;
    /// [`Child::OPTIONAL_API`].
    fn optional_api(&self) -> bool;
    /// [`Child::name`].
    fn name(&self, service: &str) -> String;
    /// [`Child::wanted`].
    fn wanted(&self, spec: &StatelessServiceSpec) -> bool;
    /// The drift of `live` from `desired` in the [`Child::COMPARED`] fields.
    fn differences(&self, desired: &Value, live: &Value) -> Vec<Difference>;
    /// [`Child::violations`].
    fn violations(&self, desired: &Value, live: &Value) -> Vec<Violation>;
    /// The built child as JSON, when built.
    fn desired(&self, children: &Children) -> Result<Option<Value>, serde_json::Error>;
    /// The live child as JSON, when observed.
    fn live(&self, observed: &Observed) -> Result<Option<Value>, serde_json::Error>;
    /// Takes the object an apply returned as the observed one (ignored if it does not parse:
    /// the cached one stays).
    fn refresh(&self, observed: &mut Observed, applied: &Value);
    /// Takes the child from the cache.
    fn take_cached(&self, stores: &Stores, namespace: &str, service: &str, observed: &mut Observed);
    /// Whether the API server must be read: wanted but not cached (it may exist without our
    /// label, or be newer than the cache), or [`Child::read_despite_cache`].
    fn must_read(&self, observed: &Observed, spec: &StatelessServiceSpec) -> bool;
    /// Reads the child from the API server into `observed`.
    fn read<'a>(
        &'a self,
        client: &'a Client,
        namespace: &'a str,
        service: &'a str,
        observed: &'a mut Observed,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// [`Entry`] for the kind `C`.
pub struct Registered<C>(PhantomData<fn() -> C>);

impl<C> Registered<C> {
    /// The entry (a constant, so the registry is a `static`).
    pub const NEW: Self = Registered(PhantomData);
}

/// `desired` reduced to the fields in `fields`, keeping its key order.
fn only(desired: &Value, fields: &[&str]) -> Value {
    match desired.as_object() {
        Some(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => desired.clone(),
    }
}

impl<C: Slot> Entry for Registered<C> {
    fn kind(&self) -> ChildKind {
        C::KIND
    }
    fn as_str(&self) -> &'static str {
        <C::Object as k8s_openapi::Resource>::KIND
    }
    fn api_resource(&self) -> ApiResource {
        ApiResource::erase::<C::Object>(&())
    }
    fn verbs(&self) -> &'static [&'static str] {
        C::VERBS
    }
    fn compared(&self) -> &'static [&'static str] {
        C::COMPARED
    }
    fn delete_when_unwanted(&self) -> bool {
        C::DELETE_WHEN_UNWANTED
    }
    fn hides_values(&self) -> bool {
        C::HIDE_VALUES
    }
    fn delete_before_apply(&self) -> bool {
        C::DELETE_BEFORE_APPLY
    }
    fn optional_api(&self) -> bool {
        C::OPTIONAL_API
    }
    fn name(&self, service: &str) -> String {
        C::name(service)
    }
    fn wanted(&self, spec: &StatelessServiceSpec) -> bool {
        C::wanted(spec)
    }
    fn differences(&self, desired: &Value, live: &Value) -> Vec<Difference> {
        differences(&only(desired, C::COMPARED), live)
    }
    fn violations(&self, desired: &Value, live: &Value) -> Vec<Violation> {
        C::violations(desired, live)
    }
    fn desired(&self, children: &Children) -> Result<Option<Value>, serde_json::Error> {
        C::object(C::built(children))
            .map(serde_json::to_value)
            .transpose()
    }
    fn live(&self, observed: &Observed) -> Result<Option<Value>, serde_json::Error> {
        C::observed(observed)
            .as_deref()
            .map(serde_json::to_value)
            .transpose()
    }
    fn refresh(&self, observed: &mut Observed, applied: &Value) {
        if let Ok(object) = <C::Object as serde::Deserialize>::deserialize(applied) {
            *C::observed_mut(observed) = Some(Arc::new(object));
        }
    }
    fn take_cached(
        &self,
        stores: &Stores,
        namespace: &str,
        service: &str,
        observed: &mut Observed,
    ) {
        let cached = observe::cached(C::store(stores), namespace, &C::name(service));
        // An entry that does not parse (it came from the same watch, so it should) counts as
        // not cached: the API server is read instead.
        *C::observed_mut(observed) = cached.and_then(|c| match c.parse() {
            Ok(object) => Some(Arc::new(object)),
            Err(e) => {
                tracing::warn!(error = %e, kind = self.as_str(), "a cached object does not parse; reading it instead");
                None
            }
        });
    }
    fn must_read(&self, observed: &Observed, spec: &StatelessServiceSpec) -> bool {
        let cached = C::observed(observed).as_deref();
        (cached.is_none() && C::wanted(spec)) || C::read_despite_cache(cached, spec)
    }
    fn read<'a>(
        &'a self,
        client: &'a Client,
        namespace: &'a str,
        service: &'a str,
        observed: &'a mut Observed,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let found = observe::fetch::<C::Object>(client, namespace, &C::name(service)).await?;
            *C::observed_mut(observed) = found;
            Ok(())
        })
    }
}
