#!/usr/bin/env bash
# check.sh: the chart golog/ as the pinned Helm (tools/helm) sees it. helm lint --strict
# must pass; helm template must render, for a release "demo" in namespace "logs" with
# 5 replicas, the objects the README promises, wired together:
#   - one StatefulSet of 5 servers, each advertising its headless DNS name, with the
#     readiness probe golog health and the data claim;
#   - the headless Service (not-ready servers published) and the clients' Service;
#   - a ConfigMap where server 0 bootstraps and servers 1-4 join server 0's gossip port.
# make helm-check runs it. Bounded: helm lint and template take a second or two once
# Helm is built (a few minutes the first time, from tools/helm/go.mod).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
chart=$here/golog
helm=${HELM:-"go -C $here/../../../tools/helm tool helm"}

fail() {
	echo "helm-check: FAIL: $*" >&2
	exit 1
}

echo "helm-check: helm lint --strict $chart"
$helm lint --strict "$chart"

out=$($helm template demo "$chart" --namespace logs --set replicas=5)
count() { grep -c -- "$1" <<<"$out" || true; }
expect() {
	local want=$1 pattern=$2 n
	n=$(count "$pattern")
	[[ $n == "$want" ]] || fail "helm template: $n lines match '$pattern', want $want"
}
expect 1 '^kind: StatefulSet$'
expect 2 '^kind: Service$'
expect 1 '^kind: ConfigMap$'
expect 1 '^  clusterIP: None$'
expect 1 '^  publishNotReadyAddresses: true$'
expect 1 '^  replicas: 5$'
expect 1 '^  serviceName: demo-golog-headless$'
expect 5 '^  demo-golog-[0-4].yaml: |$'
expect 1 '^    bootstrap: true$'
expect 4 '^    join: \["demo-golog-0.demo-golog-headless.logs.svc.cluster.local:8401"\]$'
expect 1 'value: "$(POD_NAME).demo-golog-headless.logs.svc.cluster.local:8400"'
expect 1 'value: "$(POD_IP):8401"'
expect 1 'command: \["/usr/local/bin/golog", "health", "--addr", "localhost:8400"'
expect 1 'secretName: golog-certs'
expect 1 'storage: 10Gi'
echo "helm-check: helm template renders 5 servers, 2 Services, their config files: ok"

# A bad value must fail, not render something broken.
if $helm template demo "$chart" --set replicas=abc >/dev/null 2>&1; then
	fail "helm template accepted replicas=abc"
fi
echo "helm-check: ok"
