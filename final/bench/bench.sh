#!/usr/bin/env bash
# make bench: measures golog on this machine. It builds bin/golog, starts a local
# cluster of three servers with the default settings (mutual TLS, a write acknowledged
# once it is fsynced on a majority), prints the machine probe, runs each case of the
# table below BENCH_RUNS times (golog bench, which verifies every run), prints the
# median and range of each case and the servers' peak memory, and stops the cluster.
#
# Environment (defaults in brackets):
#   BENCH_RUNS           runs of each case [3]
#   BENCH_SECONDS        length of each produce run [10]
#   BENCH_CONSUME_COUNT  records each consume run writes, then reads [1000000]
#   BENCH_PROBE_ARGS     extra flags of golog bench probe (smaller sizes for a quick look)
#   BENCH_DIR            where the servers' data and the results go [a new temporary
#                        directory, removed at the end unless BENCH_KEEP=1]
#   BENCH_OUT            also write the report (the Markdown below) to this file
#   BENCH_GOLOG          a golog binary to measure instead of building this tree's (to
#                        compare two versions: run them in turn, with BENCH_TAG and
#                        BENCH_RESULTS, then golog bench table < the results)
#   BENCH_TAG            put before each case's label, such as "before: "
#   BENCH_RESULTS        also append each run's JSON result to this file
#
# The servers listen on 127.0.0.1, on free ports picked at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
final=$PWD

runs=${BENCH_RUNS:-3}
seconds=${BENCH_SECONDS:-10}
consume_count=${BENCH_CONSUME_COUNT:-1000000}
work=${BENCH_DIR:-}
if [[ -z $work ]]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/golog-bench.XXXXXX")
	[[ -n ${BENCH_KEEP:-} ]] || remove_work=1
fi
mkdir -p "$work"
golog=$work/golog
log() { echo "bench: $*" >&2; }

if [[ -n ${BENCH_GOLOG:-} ]]; then
	cp "$BENCH_GOLOG" "$golog"
else
	log "building golog"
	CGO_ENABLED=0 go build -trimpath -o "$golog" ./cmd/golog
fi
"$golog" certs init --dir "$work/certs" >/dev/null
client=(--ca "$work/certs/ca.pem" --cert "$work/certs/root-client.pem" --key "$work/certs/root-client-key.pem")

# listening HOST:PORT succeeds if something accepts TCP connections there.
listening() { { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null && exec 3<&-; }

# pick_ports sets ports to 9 ports, 3 per server (HTTP, gRPC+Raft, gossip), that
# nothing listens on now. They are taken below 32768, where Linux's ephemeral range
# starts (/proc/sys/net/ipv4/ip_local_port_range): a port in that range, free when
# checked, can become the local end of some other program's outgoing connection
# before the server binds it.
pick_ports() {
	local try base p busy
	for try in $(seq 50); do
		base=$((10000 + (RANDOM % 2000) * 10))
		busy=
		for p in $(seq "$base" $((base + 8))); do
			if listening "127.0.0.1:$p"; then busy=1; break; fi
		done
		if [[ -z $busy ]]; then
			ports=($(seq "$base" $((base + 8))))
			return
		fi
	done
	log "no free ports found"
	exit 1
}

pids=()
stop_cluster() {
	local pid
	((${#pids[@]})) || return 0
	log "stopping the cluster"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	stop_cluster
	if [[ -n ${remove_work:-} ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ready HOST:PORT succeeds once the server's /readyz answers 200: it is in a cluster
# with a leader, and caught up.
ready() {
	local line
	{ exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || return 1
	printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
	read -r -t 2 line <&3 || true
	exec 3<&-
	[[ $line == "HTTP/1."?" 200"* ]]
}

pick_ports
http=() rpc=()
for i in 0 1 2; do
	http+=("127.0.0.1:${ports[i * 3]}")
	rpc+=("127.0.0.1:${ports[i * 3 + 1]}")
	gossip=127.0.0.1:${ports[i * 3 + 2]}
	join=
	((i == 0)) || join=127.0.0.1:${ports[2]}
	"$golog" agent --node-name "bench-$i" --data-dir "$work/node-$i" --cert-dir "$work/certs" \
		--http-addr "${http[i]}" --rpc-addr "${rpc[i]}" --bind-addr "$gossip" --join "$join" \
		--log-level warn 2>>"$work/node-$i.log" &
	pids+=($!)
	for _ in $(seq 300); do
		ready "${http[i]}" && break
		kill -0 "${pids[i]}" 2>/dev/null || { log "server $i did not start:"; tail "$work/node-$i.log" >&2; exit 1; }
		sleep 0.1
	done
	ready "${http[i]}" || { log "server $i is not ready after 30 s"; exit 1; }
done
addrs=$(IFS=,; echo "${rpc[*]}")
log "a cluster of three is up: gRPC ${addrs}; data in $work"

report=$work/report.md
{
	echo "## golog bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), $(go version | cut -d' ' -f3)."
	echo "Load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo '```'
	# shellcheck disable=SC2086 # BENCH_PROBE_ARGS is a list of flags
	"$golog" bench probe --dir "$work" ${BENCH_PROBE_ARGS:-}
	echo '```'
	echo
} >"$report" 2>&1
cat "$report"

# The cases: a label, then golog bench's arguments. Produce runs last BENCH_SECONDS;
# consume runs write BENCH_CONSUME_COUNT records, then read them.
timed=(--count 0 --duration "${seconds}s")
cases=(
	"stream produce, 1 client, window 4096|produce --mode stream --window 4096 ${timed[*]}"
	"unary produce, 16 clients|produce --mode unary --clients 16 ${timed[*]}"
	"unary produce, 1 client|produce --mode unary --clients 1 ${timed[*]}"
	"batch produce, 100 a call, 4 clients|produce --mode batch --batch 100 --clients 4 ${timed[*]}"
	"stream consume from a follower, 1 client|consume --mode stream --count $consume_count"
	"1 KiB stream produce, 1 client, window 4096|produce --mode stream --window 4096 --size 1024 ${timed[*]}"
	"HTTP JSON produce, 16 clients|produce --mode http --http http://${http[0]}/ --clients 16 ${timed[*]}"
)
results=$work/results.json
: >"$results"
# Runs alternate between cases (case 1, case 2, ..., case 1, ...), so that a slow
# spell of a shared machine spreads over every case rather than spoiling one.
for run in $(seq "$runs"); do
	for c in "${cases[@]}"; do
		label=${c%%|*}
		log "run $run/$runs: $label"
		# shellcheck disable=SC2086 # the case's arguments are words
		"$golog" bench ${c#*|} --label "${BENCH_TAG:-}$label" --json --progress=false --addr "$addrs" "${client[@]}" \
			--timeout 30s >>"$results"
	done
done

{
	echo "Each case run $runs times (alternating); median (lowest–highest). 100-byte records unless said;"
	echo "3 servers on loopback, mutual TLS, fsync on a majority before acknowledging (the defaults)."
	echo "Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	"$golog" bench table <"$results"
	echo
	echo "Peak resident memory of each server (VmHWM):"
	for i in "${!pids[@]}"; do
		echo "  bench-$i: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/${pids[i]}/status")"
	done
} >"$work/table.md"
cat "$work/table.md"
cat "$work/table.md" >>"$report"
if [[ -n ${BENCH_OUT:-} ]]; then cp "$report" "$BENCH_OUT"; fi
if [[ -n ${BENCH_RESULTS:-} ]]; then cat "$results" >>"$BENCH_RESULTS"; fi
stop_cluster
