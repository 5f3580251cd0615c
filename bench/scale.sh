#!/bin/bash
# bench/scale.sh: N `omo serve` processes on one PostgreSQL and one Redis, each
# loaded by its own `omo bench webhook -target`, with the CPU each serve and
# PostgreSQL used. The figures in README "Performance" (two serves) came from:
#   OMO=./omo DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6391/0 N=2 DUR=8s bench/scale.sh
# The database should be empty (each loader counts the others' pushes too, so
# its "stored" check reports a mismatch when N > 1: add the numbers up).
set -u
OMO=${OMO:-./omo} N=${N:-2} DUR=${DUR:-10s}
: "${DATABASE_URL:?set DATABASE_URL=postgres://...}" "${REDIS_URL:?set REDIS_URL=redis://...}"
"$OMO" sim -addr 127.0.0.1:9111 -token omotoken -any-follower >/tmp/omo-scale-sim.log 2>&1 & SIM=$!
sleep 1
pids=()
for i in $(seq 1 "$N"); do
	OMO_CONFIG= OMO_DATABASE_URL=$DATABASE_URL OMO_REDIS_URL=$REDIS_URL OMO_HTTP_ADDR=127.0.0.1:818$i \
	OMO_WECHAT_API_BASE=http://127.0.0.1:9111 OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID=wxsimoa0000000001 \
	OMO_WECHAT_OFFICIAL_ACCOUNT_APP_SECRET=simsecret OMO_WECHAT_OFFICIAL_ACCOUNT_TOKEN=omotoken OMO_LOG_LEVEL=warn \
	"$OMO" serve >/tmp/omo-scale-serve$i.log 2>&1 & pids+=($!)
done
sleep 3
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
pgcpu() { local t=0 p; for p in $(pgrep -x postgres); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
declare -A c0
for p in "${pids[@]}"; do c0[$p]=$(cpu "$p"); done
pg0=$(pgcpu)
for i in $(seq 1 "$N"); do
	"$OMO" bench webhook -baseline=false -c $((64 / N)) -duration "$DUR" -target "http://127.0.0.1:818$i/wechat/oa" \
		-token omotoken -db "$DATABASE_URL" >"/tmp/omo-scale-load$i.log" 2>&1 &
done
while pgrep -f "bench webhook -baseline=false" >/dev/null; do sleep 0.2; done
for i in $(seq 1 "$N"); do grep -E "^omo " "/tmp/omo-scale-load$i.log"; done
for p in "${pids[@]}"; do echo "omo serve $p: $(( $(cpu "$p") - ${c0[$p]} )) CPU ticks (1/100 s)"; done
echo "postgres: $(( $(pgcpu) - pg0 )) CPU ticks"
kill "${pids[@]}" "$SIM"
wait 2>/dev/null
