#!/usr/bin/env bash
# Builds and starts the most complete golog server in this repository: final/ once it
# exists, otherwise the highest-numbered stage that has a cmd/server. Arguments are
# passed on to the server.
#
# Environment: GOLOG_HTTP_ADDR (default 127.0.0.1:4001), GOLOG_DATA_DIR (default
# .data/STAGE), GOLOG_CERT_DIR (default .certs, filled by `make gencert` when empty).
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD

stage=
if [[ -d final/cmd/server ]]; then
	stage=final
else
	for dir in [0-9][0-9]-*/; do
		if [[ -d $dir/cmd/server ]]; then
			stage=${dir%/}
		fi
	done
fi
if [[ -z $stage ]]; then
	echo "run.sh: no stage has a cmd/server yet" >&2
	exit 1
fi

(cd "$stage" && go build -o "$root/bin/golog-server" ./cmd/server)

addr=${GOLOG_HTTP_ADDR:-127.0.0.1:4001}
data=${GOLOG_DATA_DIR:-$root/.data/$stage}
mkdir -p "$data"

if [[ -d $stage/certs ]]; then
	export GOLOG_CERT_DIR=${GOLOG_CERT_DIR:-$root/.certs}
	[[ -f $GOLOG_CERT_DIR/ca.pem ]] || make --no-print-directory gencert CERT_DIR="$GOLOG_CERT_DIR"
fi
if [[ -f $stage/acl/model.conf && -f $stage/acl/policy.csv ]]; then
	export GOLOG_ACL_MODEL=${GOLOG_ACL_MODEL:-$root/$stage/acl/model.conf}
	export GOLOG_ACL_POLICY=${GOLOG_ACL_POLICY:-$root/$stage/acl/policy.csv}
fi

cat <<EOF
run.sh: starting $stage (bin/golog-server) on http://$addr with data in ${data#"$root"/}; try:
  curl -X POST $addr -d '{"record": {"value": "AA"}}'
  curl -X GET  $addr -d '{"offset": 0}'
EOF
exec "$root/bin/golog-server" -http-addr "$addr" -data-dir "$data" "$@"
