#!/usr/bin/env bash
# Builds and starts the most complete golog server in this repository: final's
# `golog agent` once final/ has it, otherwise the highest-numbered stage that has a
# cmd/server.
#
#   ./run.sh              one server: HTTP JSON API on 127.0.0.1:4001, gRPC and Raft on
#                         127.0.0.1:8400, gossip on 127.0.0.1:8401
#   ./run.sh --nodes 3    (final only) a cluster of three servers on loopback, on ports
#                         4001-4003 (HTTP), 8400/8410/8420 (gRPC and Raft) and
#                         8401/8411/8421 (gossip); Ctrl-C stops them all
#   ./run.sh --nodes 3 --lab
#                         (final only) the same cluster in lab mode, for teaching: the
#                         cluster console (http://127.0.0.1:4001/ui/) gets buttons that
#                         stop, kill -9, pause, restart and cut off each server. Its
#                         parent is golog lab, not this script. Loopback only.
#
# Other arguments are passed on to the server (to every server of a cluster):
# `bin/golog agent --help` lists them. Records are kept in .data/STAGE (a cluster's in
# .data/final/node-N) and survive a restart. Certificates are made on first use.
#
# Environment: GOLOG_HTTP_ADDR (default 127.0.0.1:4001), GOLOG_DATA_DIR (default
# .data/STAGE), GOLOG_CERT_DIR (default .certs). With final, a single server also takes
# every other setting of golog agent from the environment (GOLOG_RPC_ADDR,
# GOLOG_BIND_ADDR, ...: see its help); a cluster takes its addresses from the list above.
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD

nodes=
lab=
args=()
while (($#)); do
	case $1 in
	--nodes) nodes=${2:?run.sh: --nodes needs a number}; shift 2 ;;
	--nodes=*) nodes=${1#--nodes=}; shift ;;
	--lab) lab=1; shift ;;
	*) args+=("$1"); shift ;;
	esac
done
if [[ -n $nodes && ! $nodes =~ ^[1-9]$ ]]; then
	echo "run.sh: --nodes takes 1 to 9, not $nodes" >&2
	exit 2
fi

# run_stage starts the newest stage's cmd/server: the workbook before final/ existed.
run_stage() {
	local stage=
	for dir in [0-9][0-9]-*/; do
		if [[ -d $dir/cmd/server ]]; then
			stage=${dir%/}
		fi
	done
	if [[ -z $stage ]]; then
		echo "run.sh: no stage has a cmd/server yet" >&2
		exit 1
	fi
	if [[ -n $nodes ]]; then
		echo "run.sh: --nodes needs final/ (golog agent); $stage runs one server" >&2
		exit 2
	fi
	(cd "$stage" && go build -o "$root/bin/golog-server" ./cmd/server)

	local addr=${GOLOG_HTTP_ADDR:-127.0.0.1:4001}
	local data=${GOLOG_DATA_DIR:-$root/.data/$stage}
	mkdir -p "$data"
	if [[ -d $stage/certs ]]; then
		export GOLOG_CERT_DIR=${GOLOG_CERT_DIR:-$root/.certs}
		[[ -f $GOLOG_CERT_DIR/ca.pem ]] || make --no-print-directory gencert CERT_DIR="$GOLOG_CERT_DIR"
	fi
	if [[ -f $stage/acl/model.conf && -f $stage/acl/policy.csv ]]; then
		export GOLOG_ACL_MODEL=${GOLOG_ACL_MODEL:-$root/$stage/acl/model.conf}
		export GOLOG_ACL_POLICY=${GOLOG_ACL_POLICY:-$root/$stage/acl/policy.csv}
	fi
	cat <<-EOF
		run.sh: starting $stage (bin/golog-server) on http://$addr with data in ${data#"$root"/}; try:
		  curl -X POST $addr -d '{"record": {"value": "AA"}}'
		  curl -X GET  $addr -d '{"offset": 0}'
	EOF
	exec "$root/bin/golog-server" -http-addr "$addr" -data-dir "$data" ${args[@]+"${args[@]}"}
}

if [[ ! -d final/cmd/golog ]]; then
	[[ -z $lab ]] || { echo "run.sh: --lab needs final/ (golog lab)" >&2; exit 2; }
	run_stage
fi

golog=$root/bin/golog
(cd final && go build -o "$golog" ./cmd/golog)
export GOLOG_CERT_DIR=${GOLOG_CERT_DIR:-$root/.certs}
if [[ ! -f $GOLOG_CERT_DIR/ca.pem ]]; then
	"$golog" certs init --dir "$GOLOG_CERT_DIR" >/dev/null
	echo "run.sh: made a CA and certificates in ${GOLOG_CERT_DIR#"$root"/}"
fi
data=${GOLOG_DATA_DIR:-$root/.data/final}

if [[ -n $lab ]]; then
	# golog lab starts the servers itself, as its children, on the ports below, so
	# that the console's buttons can signal and restart them.
	exec "$golog" lab --nodes "${nodes:-3}" --data-dir "$data" --cert-dir "$GOLOG_CERT_DIR" \
		-- ${args[@]+"${args[@]}"}
fi

if [[ -z $nodes ]]; then
	export GOLOG_DATA_DIR=$data
	export GOLOG_HTTP_ADDR=${GOLOG_HTTP_ADDR:-127.0.0.1:4001}
	export GOLOG_NODE_NAME=${GOLOG_NODE_NAME:-node-1}
	addr=$GOLOG_HTTP_ADDR
	cat <<-EOF
		run.sh: starting final (bin/golog agent) as $GOLOG_NODE_NAME: HTTP on http://$addr, gRPC and Raft on ${GOLOG_RPC_ADDR:-127.0.0.1:8400}, data in ${data#"$root"/}; Ctrl-C stops it. Try:
		  curl -X POST $addr -d '{"record": {"value": "AA"}}'
		  curl -X GET  $addr -d '{"offset": 0}'
	EOF
	exec "$golog" agent ${args[@]+"${args[@]}"}
fi

# answers HOST:PORT succeeds once an HTTP server answers there. (Its port accepts
# connections a little before the server serves, and before it gossips.)
answers() {
	local line
	{ exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || return 1
	printf 'GET /?offset=0 HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
	read -r -t 2 line <&3 || true
	exec 3<&-
	[[ $line == HTTP/* ]]
}

# The servers run in process groups of their own (job control), so that Ctrl-C reaches
# this script only, which passes it on as one SIGTERM to each: they stop gracefully. A
# second Ctrl-C passes on a second SIGTERM, which stops them at once.
set -m
pids=()
stopping=
failed= # set when a server fails to start or exits by itself
stop_servers() {
	[[ -n $stopping ]] || echo "run.sh: stopping the cluster (Ctrl-C again to stop at once)" >&2
	stopping=1
	kill -TERM "${pids[@]}" 2>/dev/null || true
}
trap stop_servers INT TERM

summary=()
for ((i = 1; i <= nodes && ! stopping; i++)); do
	http=127.0.0.1:$((4000 + i))
	rpc=127.0.0.1:$((8400 + 10 * (i - 1)))
	gossip=127.0.0.1:$((8401 + 10 * (i - 1)))
	join=
	((i == 1)) || join=127.0.0.1:8401
	# Each line of a server's log starts with its name. The filter ignores Ctrl-C:
	# a server that logs to a closed pipe would die of SIGPIPE in the middle of its
	# graceful stop.
	"$golog" agent --node-name "node-$i" --data-dir "$data/node-$i" --http-addr "$http" \
		--rpc-addr "$rpc" --bind-addr "$gossip" --join "$join" ${args[@]+"${args[@]}"} \
		2> >(trap '' INT TERM; exec sed -u "s/^/node-$i: /" >&2) &
	pids+=($!)
	# Each server joins through node-1, so start them one after the other.
	until [[ -n $stopping ]] || answers "$http"; do
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			echo "run.sh: node-$i did not start" >&2
			failed=1
			stop_servers
			break
		fi
		sleep 0.2
	done
	summary+=("  node-$i  HTTP http://$http  gRPC+Raft $rpc  gossip $gossip  data ${data#"$root"/}/node-$i")
done

if [[ -z $stopping ]]; then
	cat <<-EOF
		run.sh: a cluster of $nodes servers (final, bin/golog agent) is up:
		$(printf '%s\n' "${summary[@]}")
		The cluster console: http://127.0.0.1:4001/ui/ (./run.sh --nodes $nodes --lab adds buttons to break it).
		Writes go to the leader (an HTTP write to a follower is forwarded); every server serves reads. Try:
		  curl -X POST 127.0.0.1:4001 -d '{"record": {"value": "AA"}}'
		  curl -X GET  127.0.0.1:400$nodes -d '{"offset": 0}'
		gRPC clients trust ${GOLOG_CERT_DIR#"$root"/}/ca.pem and present a client certificate such as ${GOLOG_CERT_DIR#"$root"/}/root-client.pem.
		Ctrl-C (or kill -TERM $$) stops every server.
	EOF
	# Run until a server exits or a signal comes.
	wait -n "${pids[@]}" || true
	if [[ -z $stopping ]]; then
		echo "run.sh: a server exited by itself" >&2
		failed=1
		stop_servers
	fi
fi
# Wait for every server to stop; a signal interrupts the wait, and is passed on.
for pid in "${pids[@]}"; do
	while kill -0 "$pid" 2>/dev/null; do
		wait "$pid" 2>/dev/null || true
	done
done
[[ -z $failed ]]
