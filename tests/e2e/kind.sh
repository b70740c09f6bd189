#!/usr/bin/env bash
# End-to-end test on kind: build and load the image, install the chart, apply the examples, run the
# cluster tests, check that storage survives a pod deletion and that PVCs survive `helm uninstall`.
#
# Needs: docker, kind, kubectl, helm (v3), cargo. Run from anywhere: tests/e2e/kind.sh
#
# Environment (all optional):
#   CLUSTER_NAME       kind cluster name (default: stateless-e2e). An existing cluster of that name is
#                      reused and never deleted by this script.
#   KEEP_CLUSTER       1 = keep a cluster this script created after a successful run. After a failure
#                      the cluster is always kept for inspection (the script prints how to delete it).
#   KIND_NODE_IMAGE    kindest/node image for a new cluster (default: kind's own default).
#   IMAGE_REPO         image name to build and load (default: stateless-operator)
#   IMAGE_TAG          image tag (default: e2e)
#   SKIP_BUILD         1 = do not run `docker build`; the image must already exist locally.
#   OPERATOR_NAMESPACE namespace for the Helm release (default: stateless-system)
#   RELEASE            Helm release name (default: stateless-operator)
#   WAIT_TIMEOUT       timeout for each wait (default: 180s)
#   E2E_DIR            where the kubeconfig is written (default: target/e2e)
#   RWX_STORAGE        1 = the cluster's default StorageClass supports ReadWriteMany. kind's default
#                      (local-path) does not, so examples asking for ReadWriteMany are skipped unless
#                      this is set (their PVC would stay Pending and they would never become Ready).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

CLUSTER_NAME="${CLUSTER_NAME:-stateless-e2e}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"
IMAGE_REPO="${IMAGE_REPO:-stateless-operator}"
IMAGE_TAG="${IMAGE_TAG:-e2e}"
SKIP_BUILD="${SKIP_BUILD:-0}"
OPERATOR_NAMESPACE="${OPERATOR_NAMESPACE:-stateless-system}"
RELEASE="${RELEASE:-stateless-operator}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-180s}"
E2E_DIR="${E2E_DIR:-$ROOT/target/e2e}"
RWX_STORAGE="${RWX_STORAGE:-0}"
CHART="$ROOT/charts/stateless-operator"
MANAGED_BY="app.kubernetes.io/managed-by=stateless-operator"
OPERATOR_PODS="app.kubernetes.io/name=stateless-operator,app.kubernetes.io/instance=$RELEASE"

# A private kubeconfig: the user's current context is never touched.
export KUBECONFIG="$E2E_DIR/kubeconfig"

CREATED_CLUSTER=0
CLUSTER_UP=0
SUCCEEDED=0

log() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  if [[ "$CLUSTER_UP" == 1 ]]; then diagnostics; fi
  exit 1
}

# Best-effort: must never fail or re-trigger itself, it runs while handling a failure.
diagnostics() {
  trap - ERR
  set +e
  log "Diagnostics"
  echo "--- events (last 100)"
  kubectl get events --all-namespaces --sort-by=.lastTimestamp 2>&1 | tail -n 100
  echo "--- operator pods"
  kubectl -n "$OPERATOR_NAMESPACE" get pods -o wide 2>&1
  kubectl -n "$OPERATOR_NAMESPACE" describe pods -l "$OPERATOR_PODS" 2>&1 | tail -n 80
  echo "--- operator logs"
  kubectl -n "$OPERATOR_NAMESPACE" logs -l "$OPERATOR_PODS" --all-containers --prefix --tail=500 2>&1
  echo "--- operator logs of previous (crashed) containers"
  kubectl -n "$OPERATOR_NAMESPACE" logs -l "$OPERATOR_PODS" --all-containers --prefix --tail=200 --previous 2>&1
  echo "--- leader lease"
  kubectl -n "$OPERATOR_NAMESPACE" get lease -o yaml 2>&1
  echo "--- StatelessServices"
  kubectl get ssvc --all-namespaces -o yaml 2>&1
  echo "--- managed objects"
  kubectl get deploy,rs,pods,cm,secret,pvc,pdb --all-namespaces -l "$MANAGED_BY" -o wide 2>&1
  echo "--- helm"
  helm -n "$OPERATOR_NAMESPACE" status "$RELEASE" 2>&1
}

on_error() {
  local rc=$? line=$1 cmd=$2
  printf '\nFAILED (exit %s) at %s line %s: %s\n' "$rc" "${BASH_SOURCE[0]}" "$line" "$cmd" >&2
  if [[ "$CLUSTER_UP" == 1 ]]; then diagnostics; fi
  exit "$rc"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

on_exit() {
  if [[ "$CREATED_CLUSTER" == 1 && "$SUCCEEDED" == 1 && "$KEEP_CLUSTER" != 1 ]]; then
    log "Deleting kind cluster $CLUSTER_NAME (set KEEP_CLUSTER=1 to keep it)"
    kind delete cluster --name "$CLUSTER_NAME" || true
  elif kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    echo "Cluster $CLUSTER_NAME kept: export KUBECONFIG=$KUBECONFIG; delete it with: kind delete cluster --name $CLUSTER_NAME"
  fi
}
trap on_exit EXIT

for tool in docker kind kubectl helm cargo; do
  command -v "$tool" >/dev/null || die "$tool is required but not on PATH"
done

mkdir -p "$E2E_DIR"

if kind get clusters | grep -qx "$CLUSTER_NAME"; then
  log "Reusing kind cluster $CLUSTER_NAME"
  kind get kubeconfig --name "$CLUSTER_NAME" >"$KUBECONFIG"
else
  log "Creating kind cluster $CLUSTER_NAME"
  create_args=(create cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG" --wait 120s)
  if [[ -n "$KIND_NODE_IMAGE" ]]; then create_args+=(--image "$KIND_NODE_IMAGE"); fi
  kind "${create_args[@]}"
  CREATED_CLUSTER=1
fi
kubectl cluster-info
CLUSTER_UP=1

IMAGE="$IMAGE_REPO:$IMAGE_TAG"
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "Building $IMAGE"
  docker build -t "$IMAGE" "$ROOT"
fi
log "Loading $IMAGE into kind"
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"

log "Installing the chart into $OPERATOR_NAMESPACE"
# Enforcing the "restricted" Pod Security level proves the operator pod really complies.
kubectl create namespace "$OPERATOR_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$OPERATOR_NAMESPACE" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted
helm_values=(--set "image.repository=$IMAGE_REPO" --set "image.tag=$IMAGE_TAG" --set image.pullPolicy=Never)
# Strict server-side validation of every rendered object (unknown fields, bad API versions).
# Server-side apply: no last-applied annotation (the CRD is large) and no clash with Helm's fields.
helm template "$RELEASE" "$CHART" -n "$OPERATOR_NAMESPACE" --include-crds "${helm_values[@]}" |
  kubectl apply --server-side --force-conflicts --field-manager=stateless-e2e-validate \
    --dry-run=server --validate=strict -f -
helm upgrade --install "$RELEASE" "$CHART" -n "$OPERATOR_NAMESPACE" "${helm_values[@]}" \
  --wait --timeout 5m
kubectl wait --for=condition=Established crd/statelessservices.stateless.dev --timeout="$WAIT_TIMEOUT"
kubectl -n "$OPERATOR_NAMESPACE" rollout status "deployment/$RELEASE" --timeout="$WAIT_TIMEOUT"

log "Applying examples"
shopt -s nullglob
applied=0
for file in "$ROOT"/examples/*.yaml; do
  name="$(basename "$file")"
  if [[ "$name" == invalid* ]]; then
    echo "skip $name (invalid on purpose)"
    continue
  fi
  if [[ "$RWX_STORAGE" != 1 ]] && grep -Eq '^[[:space:]]*accessMode:[[:space:]]*ReadWriteMany' "$file"; then
    echo "SKIP $name: needs ReadWriteMany storage, which kind's default StorageClass lacks (set RWX_STORAGE=1 if yours has it)"
    continue
  fi
  kubectl apply -f "$file"
  applied=$((applied + 1))
done
((applied > 0)) || die "no valid examples/*.yaml to apply"
# e2e-only fixtures (a retained volume that works on kind).
for file in "$ROOT"/tests/e2e/manifests/*.yaml; do
  kubectl apply -f "$file"
done
shopt -u nullglob

log "Waiting for every StatelessService to be Ready"
kubectl wait --for=condition=Ready ssvc --all --all-namespaces --timeout="$WAIT_TIMEOUT"
kubectl get ssvc --all-namespaces

log "Running the cluster tests (cargo test -- --ignored)"
# The cluster tests run their own operator in-process, scoped to their namespaces. The installed
# operator watches every namespace and would reconcile the same objects as a second, unelected
# writer (two writers could each generate a secret value), so it stands aside meanwhile.
kubectl -n "$OPERATOR_NAMESPACE" scale "deployment/$RELEASE" --replicas=0
kubectl -n "$OPERATOR_NAMESPACE" wait --for=delete pod -l "$OPERATOR_PODS" --timeout="$WAIT_TIMEOUT" || true
KUBECONFIG="$KUBECONFIG" cargo test --locked -- --ignored
kubectl -n "$OPERATOR_NAMESPACE" scale "deployment/$RELEASE" --replicas=2
kubectl -n "$OPERATOR_NAMESPACE" rollout status "deployment/$RELEASE" --timeout="$WAIT_TIMEOUT"

log "Pod deletion keeps the data volume"
# A service with storage is one that owns a <name>-data PVC; take the first.
read -r svc_ns svc pvc pvc_uid < <(
  kubectl get pvc --all-namespaces -l "$MANAGED_BY" \
    -o jsonpath='{range .items[*]}{.metadata.namespace} {.metadata.labels.stateless\.dev/service} {.metadata.name} {.metadata.uid}{"\n"}{end}' |
    head -n 1
) || true
[[ -n "${pvc_uid:-}" ]] || die "no example StatelessService has storage (no PVC labelled $MANAGED_BY)"
echo "service $svc_ns/$svc, PVC $pvc (uid $pvc_uid)"

# shellcheck disable=SC2016 # $k/$v are go-template variables, not shell ones
selector="$(kubectl -n "$svc_ns" get deployment "$svc" \
  -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')"
selector="${selector%,}"
volume="$(kubectl -n "$svc_ns" get deployment "$svc" \
  -o jsonpath="{.spec.template.spec.volumes[?(@.persistentVolumeClaim.claimName==\"$pvc\")].name}")"
[[ -n "$volume" ]] || die "deployment $svc_ns/$svc does not mount PVC $pvc"
read -r container mount_path < <(
  kubectl -n "$svc_ns" get deployment "$svc" -o go-template="{{range .spec.template.spec.containers}}{{\$c := .name}}{{range .volumeMounts}}{{if eq .name \"$volume\"}}{{\$c}} {{.mountPath}}{{\"\\n\"}}{{end}}{{end}}{{end}}" |
    head -n 1
) || true
[[ -n "${mount_path:-}" ]] || die "no container of $svc_ns/$svc mounts volume $volume"

# Pods that are not being deleted, in a stable order.
live_pods() {
  kubectl -n "$svc_ns" get pods -l "$selector" --sort-by=.metadata.name \
    -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{if eq .status.phase "Running"}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}{{end}}'
}
old_pod="$(live_pods | head -n 1)"
[[ -n "$old_pod" ]] || die "no running pod for $svc_ns/$svc"
marker="e2e-$(date +%s)-$RANDOM"
marker_file="$mount_path/.stateless-e2e-marker"
# Needs a shell in the example image and a volume writable by its user (fsGroup).
kubectl -n "$svc_ns" exec "$old_pod" -c "$container" -- sh -c "printf %s '$marker' > '$marker_file'" ||
  die "could not write $marker_file in $old_pod (the storage example needs an image with sh and a writable volume)"

kubectl -n "$svc_ns" delete pod "$old_pod" --wait=true --timeout="$WAIT_TIMEOUT"
kubectl -n "$svc_ns" rollout status "deployment/$svc" --timeout="$WAIT_TIMEOUT"
kubectl -n "$svc_ns" wait --for=condition=Ready "ssvc/$svc" --timeout="$WAIT_TIMEOUT"
new_pod=""
for _ in $(seq 1 60); do
  new_pod="$(live_pods | grep -vx "$old_pod" | head -n 1 || true)"
  [[ -n "$new_pod" ]] && break
  sleep 2
done
[[ -n "$new_pod" ]] || die "no replacement pod for $svc_ns/$svc"
kubectl -n "$svc_ns" wait --for=condition=Ready "pod/$new_pod" --timeout="$WAIT_TIMEOUT"

now_uid="$(kubectl -n "$svc_ns" get pvc "$pvc" -o jsonpath='{.metadata.uid}')"
[[ "$now_uid" == "$pvc_uid" ]] || die "PVC $pvc was replaced (uid $pvc_uid -> $now_uid)"
claims="$(kubectl -n "$svc_ns" get pod "$new_pod" -o jsonpath='{.spec.volumes[*].persistentVolumeClaim.claimName}')"
[[ " $claims " == *" $pvc "* ]] || die "new pod $new_pod does not use PVC $pvc (claims: $claims)"
content="$(kubectl -n "$svc_ns" exec "$new_pod" -c "$container" -- cat "$marker_file")"
[[ "$content" == "$marker" ]] || die "data lost: $marker_file in $new_pod has '$content', expected '$marker'"
echo "OK: $new_pod sees the file written by $old_pod on PVC $pvc (uid unchanged)"

log "helm uninstall keeps the PVCs"
# namespace name uid owned(yes/no) for every operator-managed PVC.
pvcs_before="$(kubectl get pvc --all-namespaces -l "$MANAGED_BY" \
  -o go-template='{{range .items}}{{.metadata.namespace}} {{.metadata.name}} {{.metadata.uid}} {{if .metadata.ownerReferences}}owned{{else}}retained{{end}}{{"\n"}}{{end}}')"
echo "$pvcs_before"
helm uninstall "$RELEASE" -n "$OPERATOR_NAMESPACE" --wait --timeout 5m
wait_until_gone() { # $1: description, rest: kubectl get args that list what must disappear
  local what=$1
  shift
  for _ in $(seq 1 90); do
    [[ -z "$(kubectl get "$@" -o name 2>/dev/null)" ]] && return 0
    sleep 2
  done
  die "$what still present after 180s: $(kubectl get "$@" -o name | tr '\n' ' ')"
}
wait_until_gone "operator pods" pods -n "$OPERATOR_NAMESPACE" -l "$OPERATOR_PODS"

check_pvcs() { # $1: which PVCs must still exist: all | retained
  local ns name uid kind now
  while read -r ns name uid kind; do
    [[ -z "$ns" ]] && continue
    [[ "$1" == retained && "$kind" != retained ]] && continue
    now="$(kubectl -n "$ns" get pvc "$name" -o jsonpath='{.metadata.uid}' --ignore-not-found)"
    [[ "$now" == "$uid" ]] || die "PVC $ns/$name ($kind) is gone or replaced after $2 (uid '$uid' -> '$now')"
  done <<<"$pvcs_before"
}
check_pvcs all "helm uninstall"
echo "OK: all PVCs survived helm uninstall"

# Deleting the StatelessServices lets the garbage collector remove owned children: PVCs with
# reclaimPolicy Delete (owned) must go, Retain ones (no ownerReference) must stay.
grep -q ' retained$' <<<"$pvcs_before" ||
  die "no retained PVC (tests/e2e/manifests/retained.yaml should have created keep-data with no ownerReference)"
log "Deleting StatelessServices: retained PVCs stay, owned PVCs go"
# The operator is gone, so a finalizer of its own would block this; that is reported, not waited out.
kubectl delete ssvc --all --all-namespaces --wait=false
wait_until_gone "StatelessServices (finalizers without a running operator?)" ssvc --all-namespaces
wait_until_gone "Deployments owned by the deleted StatelessServices" deploy --all-namespaces -l "$MANAGED_BY"
check_pvcs retained "deleting the StatelessServices"
while read -r ns name _ kind; do
  [[ "$kind" == owned ]] || continue
  wait_until_gone "PVC $ns/$name (reclaimPolicy Delete)" pvc -n "$ns" "$name"
done <<<"$pvcs_before"
echo "OK: retained PVCs survived deletion of their StatelessService; owned ones were collected"

SUCCEEDED=1
log "kind e2e passed"
