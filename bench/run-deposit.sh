#!/usr/bin/env bash
# The deposit benchmark (bench/README.md): throughput and latency of POST /v1/letters under
# load, compared with what this machine's cores can sign; then the server's memory growth
# while it takes one large document. Loopback only; every phase is bounded in time.
#
# usage: bench/run-deposit.sh [--connections N] [--duration S] [--warmup S]
#                             [--document-bytes N] [--big-mib N] [--server-threads N]
#                             [--skip-memory] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

connections=16
duration=20
warmup=3
document_bytes=$((100 << 10))
big_mib=200
server_threads=0 # 0: the gateway's default, twice the cores
skip_memory=false
keep=false
while [ $# -gt 0 ]; do
  case $1 in
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --document-bytes) document_bytes=$2; shift 2 ;;
    --big-mib) big_mib=$2; shift 2 ;;
    --server-threads) server_threads=$2; shift 2 ;;
    --skip-memory) skip_memory=true; shift ;;
    --keep) keep=true; shift ;;
    *) echo "run-deposit.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# 1. Tools and build: Release, in a build directory of its own.
install_missing "${SCEAU_BUILD_PACKAGES[@]}" curl qpdf
[ -f certs-sample/root-ca.pem ] || certs-sample/make-sample-pki.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSCEAU_TESTS=OFF -DSCEAU_BENCH=ON >&2
cmake --build build-bench --parallel "$(nproc)" --target sceau sceau_bench_deposit >&2
sceau=build-bench/bin/sceau
load=build-bench/bin/sceau_bench_deposit

work=$(mktemp -d "${TMPDIR:-/tmp}/sceau-bench.XXXXXX")
data=$work/data
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
finish() {
  touch "$work/stop-sampling"
  stop_server
  if $keep; then
    echo "kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap finish EXIT

mkdir -p bench/out
report=bench/out/deposit-$(date -u +%Y%m%dT%H%M%SZ).txt
say() { echo "$*" | tee -a "$report"; }

# start_server LOG: a fresh process on a free loopback port; sets server_pid and address.
start_server() {
  rm -f "$work/ready"
  "$sceau" serve --config "$work/sceau.toml" --data "$data" --listen 127.0.0.1:0 \
    --ready-file "$work/ready" 2>"$1" &
  server_pid=$!
  for _ in $(seq 300); do
    [ -s "$work/ready" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$1" >&2; echo "the server died" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$work/ready" ] || { echo "the server did not start within 30 s" >&2; exit 1; }
  address=$(cat "$work/ready")
}

# status_value PID KEY: a field of /proc/PID/status, in its own unit (kB for memory).
status_value() {
  local key value rest
  while read -r key value rest; do
    if [ "$key" = "$2:" ]; then
      echo "$value"
      return
    fi
  done <"/proc/$1/status"
}

# cpu_ticks PID: user plus system time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# children_ticks PID: user plus system time of the children of a process (the gateway's PDF
# checkers), in clock ticks: those it has reaped (cutime and cstime in its own stat), and
# those alive, with what they reaped in turn. Fields are counted after the command name,
# which may hold spaces; cat goes on past processes that end meanwhile.
children_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '{ pid = $1; sub(/^.*\) /, "") }
    pid == p { total += $14 + $15 }
    $2 == p { total += $12 + $13 + $14 + $15 }
    END { print total + 0 }'
}

# children_count PID: the children of a process that have not ended.
children_count() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '{ sub(/^.*\) /, "") }
    $2 == p && $1 != "Z" { n++ } END { print n + 0 }'
}

# system_ticks: "busy iowait steal total" over all cores, from the first line of /proc/stat
# (busy counts steal: time the hypervisor gave to another guest).
system_ticks() {
  awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $6, $9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat
}

# 2. The machine, as it is when the run starts.
cores=$(nproc)
say "== Sceau deposit benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ) =="
changes=$( (git diff --name-only HEAD; git ls-files --others --exclude-standard) 2>/dev/null | wc -l)
say "commit          $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ "$changes" = 0 ] || echo " and $changes changed or new files")"
say "machine         $cores cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
say "kernel          $(uname -r)"
say "load average    $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
say "data directory  $(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')"
say "$("$sceau" version | tr '\n' ' ')"

# 3. The server and a sender.
cat >"$work/sceau.toml" <<TOML
[server]
threads = $server_threads
TOML
key=$("$sceau" sender add --data "$data" --name "Bench Sender" --email bench@example.org \
  --identified-by "bench/run-deposit.sh" 2>/dev/null)
start_server "$work/server-load.log"
threads=$(status_value "$server_pid" Threads)
say "server          pid $server_pid on $address, $threads threads (server.threads = $server_threads)"

# 4. What the cores can sign: ECDSA P-256 with one process per core.
say ""
say "-- openssl speed -seconds 5 -multi $cores ecdsap256"
openssl speed -seconds 5 -multi "$cores" ecdsap256 >"$work/speed.txt" 2>&1
per_core=$(awk -F: '/^Got: \+F4:.*:256:/ { printf "%s%.0f", sep, $5; sep = " + " }' "$work/speed.txt")
sign_total=$(awk '/ecdsa \(nistp256\)/ { value = $(NF - 1) } END { printf "%.0f", value }' \
  "$work/speed.txt")
[ "$sign_total" -gt 0 ] || { cat "$work/speed.txt" >&2; echo "no sign/s in openssl's output" >&2; exit 1; }
say "sign/s          $sign_total on $cores cores ($per_core)"

# 5. The load.
say ""
say "-- load: $connections connections, ${warmup} s warm-up, ${duration} s measured, $document_bytes-byte PDF"
"$load" --write-pdf "$work/document.pdf" --pdf-bytes "$document_bytes" 2>/dev/null
qpdf --suppress-recovery --check "$work/document.pdf" >/dev/null ||
  { echo "the generated PDF fails qpdf --check" >&2; exit 1; }
server_before=$(cpu_ticks "$server_pid")
checkers_before=$(children_ticks "$server_pid")
read -r busy_before iowait_before steal_before total_before < <(system_ticks)
SCEAU_BENCH_KEY=$key "$load" --target "$address" --connections "$connections" \
  --duration "$duration" --warmup "$warmup" --pdf-bytes "$document_bytes" \
  >"$work/load.txt" 2>"$work/load.err" || true
read -r busy_after iowait_after steal_after total_after < <(system_ticks)
server_after=$(cpu_ticks "$server_pid")
checkers_after=$(children_ticks "$server_pid")
tee -a "$report" <"$work/load.txt"
tee -a "$report" <"$work/load.err" >&2
value() { awk -v k="$1" '$1 == k { print $2 }' "$work/load.txt"; }
[ -n "$(value deposits_per_s)" ] || { echo "the load generator reported nothing" >&2; exit 1; }

ticks=$(getconf CLK_TCK)
elapsed=$(value client_elapsed_s)
server_cpu=$(awk -v a="$server_before" -v b="$server_after" -v t="$ticks" -v e="$elapsed" \
  'BEGIN { printf "%.0f %% of one core (%.1f s in %.1f s)", 100 * (b - a) / t / e, (b - a) / t, e }')
checker_cpu=$(awk -v a="$checkers_before" -v b="$checkers_after" -v t="$ticks" -v e="$elapsed" \
  'BEGIN { printf "%.0f %% of one core (%.1f s in %.1f s)", 100 * (b - a) / t / e, (b - a) / t, e }')
system_cpu=$(awk -v b0="$busy_before" -v b1="$busy_after" -v w0="$iowait_before" \
  -v w1="$iowait_after" -v s0="$steal_before" -v s1="$steal_after" -v t0="$total_before" \
  -v t1="$total_after" 'BEGIN { d = t1 - t0;
  printf "busy %.0f %% (of which steal %.0f %%), iowait %.0f %%, idle %.0f %%",
         100 * (b1 - b0) / d, 100 * (s1 - s0) / d, 100 * (w1 - w0) / d,
         100 - 100 * (b1 - b0 + w1 - w0) / d }')
# What other processes took from the cores while we measured: busy time that was neither
# the server's, nor its PDF checkers', nor the load generator's. Anything large makes the
# figures pessimistic.
gateway_ticks=$((server_after - server_before + checkers_after - checkers_before))
others=$(awk -v b="$((busy_after - busy_before))" -v s="$gateway_ticks" \
  -v c="$(value client_cpu_s)" -v t="$ticks" -v e="$elapsed" -v n="$cores" \
  'BEGIN { o = b / t - s / t - c; if (o < 0) o = 0;
           printf "%.1f s of %.1f core-seconds (%.0f %%)", o, n * e, 100 * o / (n * e) }')
say "server CPU      $server_cpu, $(status_value "$server_pid" Threads) threads"
say "checker CPU     $checker_cpu, $(children_count "$server_pid") PDF checking processes at the end"
say "client CPU      $(value client_cpu_s) s"
say "all cores       $system_cpu (over warm-up and window)"
say "other processes $others"
busy_others=$(awk -v b="$((busy_after - busy_before))" -v s="$gateway_ticks" \
  -v c="$(value client_cpu_s)" -v t="$ticks" -v e="$elapsed" -v n="$cores" \
  'BEGIN { print ((b / t - s / t - c) / (n * e) > 0.10) ? "yes" : "no" }')
[ "$busy_others" = no ] ||
  say "WARNING         other processes used more than 10 % of the cores: the figures are low"
say "load average    $(cut -d' ' -f1-3 /proc/loadavg) (after the load)"
stop_server

# 6. Memory: one large document into a fresh server, VmRSS sampled every 50 ms.
rss_line="not measured (--skip-memory)"
if ! $skip_memory; then
  say ""
  say "-- memory: one ${big_mib} MiB PDF through curl -F, into a fresh server"
  "$load" --write-pdf "$work/big.pdf" --pdf-bytes $((big_mib << 20)) 2>/dev/null
  qpdf --suppress-recovery --check "$work/big.pdf" >/dev/null ||
    { echo "the large PDF fails qpdf --check" >&2; exit 1; }
  printf '%s' '{"kind":"ere","subject":"Large benchmark deposit","recipient":{"email":"claire.martin@example.org","family_name":"Martin"}}' >"$work/letter.json"
  (umask 077 && printf 'Authorization: Bearer %s\n' "$key" >"$work/authorization")

  start_server "$work/server-memory.log"
  sleep 1
  rss_before=$(status_value "$server_pid" VmRSS)
  hwm_before=$(status_value "$server_pid" VmHWM)
  rm -f "$work/stop-sampling"
  (
    while [ ! -e "$work/stop-sampling" ] && [ -r "/proc/$server_pid/status" ]; do
      status_value "$server_pid" VmRSS
      sleep 0.05
    done
  ) >"$work/rss.txt" 2>/dev/null &
  sampler=$!

  answer=$(curl -sS -o "$work/big-answer.json" -w '%{http_code} %{time_total}' \
    -H @"$work/authorization" \
    -F "letter=<$work/letter.json;type=application/json" \
    -F "document=@$work/big.pdf;type=application/pdf;filename=large.pdf" \
    --max-time 600 "http://$address/v1/letters") || answer="curl-failed 0"
  sleep 0.2
  touch "$work/stop-sampling"
  wait "$sampler" || true

  rss_peak=$(sort -n "$work/rss.txt" | tail -1)
  hwm_after=$(status_value "$server_pid" VmHWM)
  samples=$(wc -l <"$work/rss.txt")
  read -r status seconds <<<"$answer"
  say "upload          status $status in $seconds s"
  say "VmRSS           before $((rss_before / 1024)) MiB, sampled peak $((rss_peak / 1024)) MiB ($samples samples)"
  say "VmHWM           before $((hwm_before / 1024)) MiB, after $((hwm_after / 1024)) MiB"
  growth_kib=$((rss_peak - rss_before))
  hwm_growth_kib=$((hwm_after - rss_before))
  rss_line=$(awk -v g="$growth_kib" -v h="$hwm_growth_kib" 'BEGIN {
    printf "%.1f MiB sampled peak - before; %.1f MiB VmHWM - before (target < 64 MiB: %s)",
           g / 1024, h / 1024, ((h < 65536 && g < 65536) ? "met" : "MISSED") }')
  [ "$status" = 201 ] || rss_line="$rss_line; the upload was NOT accepted ($status)"
  stop_server
fi

# 7. Summary. The bounds: every deposit needs two time-stamp signatures and one seal
#    signature; if signing were all it did, the cores could do sign/s / 2 (or / 3).
rate=$(value deposits_per_s)
say ""
say "== summary =="
awk -v rate="$rate" -v p50="$(value latency_p50_ms)" -v p90="$(value latency_p90_ms)" \
  -v p99="$(value latency_p99_ms)" -v errors="$(value errors)" -v sign="$sign_total" \
  -v cores="$cores" -v per_core="$per_core" 'BEGIN {
  printf "deposits/s                      %.1f (target >= 500: %s)\n", rate,
         (rate >= 500 ? "met" : "MISSED")
  printf "latency p50 / p90 / p99         %.1f / %.1f / %.1f ms\n", p50, p90, p99
  printf "errors in the window            %d\n", errors
  printf "ECDSA P-256 sign/s              %d on %d cores (%s)\n", sign, cores, per_core
  printf "two-signature bound             %.0f deposits/s = sign/s / 2; ratio %.4f (%.2f %%)\n",
         sign / 2, rate / (sign / 2), 100 * rate / (sign / 2)
  printf "three-signature bound           %.0f deposits/s = sign/s / 3; ratio %.4f (%.2f %%)\n",
         sign / 3, rate / (sign / 3), 100 * rate / (sign / 3)
}' | tee -a "$report"
say "RSS growth, one ${big_mib} MiB PDF   $rss_line"
echo "report: $report" >&2
