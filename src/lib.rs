//! stateless-operator: turns one `StatelessService` into the cluster objects that make a
//! disposable workload (Deployment, ConfigMap, Secret, PersistentVolumeClaim, PodDisruptionBudget).

pub mod leader;
pub mod metrics;
pub mod server;
