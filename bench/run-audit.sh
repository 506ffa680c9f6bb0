#!/usr/bin/env bash
# The audit benchmark (bench/README.md): an archive of genuinely sealed records, then
# `sceau audit` over it, in records verified per second and as a share of what this
# machine's cores can verify in ECDSA P-256 (openssl speed, every core, in the same run).
# Everything is local; every phase is bounded by the archive's size.
#
# usage: bench/run-audit.sh [--letters N] [--threads N] [--build DIR] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

letters=25000 # four records each: 100,000 records
threads=0     # 0: the audit's default, one per core
keep=false
build=build-bench
while [ $# -gt 0 ]; do
  case $1 in
    --letters) letters=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    *) echo "run-audit.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# 1. Build: Release, in a build directory of its own.
install_missing "${SCEAU_BUILD_PACKAGES[@]}"
[ -f "$build/CMakeCache.txt" ] ||
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSCEAU_TESTS=OFF -DSCEAU_BENCH=ON >&2
cmake --build "$build" --parallel "$(nproc)" --target sceau sceau_bench_archive >&2
sceau=$build/bin/sceau

work=$(mktemp -d "${TMPDIR:-/tmp}/sceau-audit-bench.XXXXXX")
finish() { if $keep; then echo "kept: $work" >&2; else rm -rf "$work"; fi; }
trap finish EXIT
mkdir -p bench/out
report=bench/out/audit-$(date -u +%Y%m%dT%H%M%SZ).txt
say() { echo "$*" | tee -a "$report"; }
cores=$(nproc)

# measured OUT ERR CMD...: runs CMD, its standard output into the file OUT and its standard
# error into ERR ("-": the script's own). Prints four figures: its exit status, the wall
# time, the CPU time of CMD and its children (user and system), and the busy time of all
# the cores meanwhile (/proc/stat, steal included), in seconds.
measured() {
  python3 - "$@" <<'PY'
import os, resource, subprocess, sys, time

def busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")

def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

out = open(sys.argv[1], "wb")
err = None if sys.argv[2] == "-" else open(sys.argv[2], "wb")
b0, c0, t0 = busy(), cpu(), time.monotonic()
status = subprocess.call(sys.argv[3:], stdout=out, stderr=err)
print(status, time.monotonic() - t0, cpu() - c0, busy() - b0)
PY
}

# others WALL CPU BUSY: what other processes took of the cores meanwhile.
others() {
  awk -v w="$1" -v c="$2" -v b="$3" -v n="$cores" 'BEGIN { o = b - c; if (o < 0) o = 0;
    printf "%.1f s of %.1f core-seconds (%.0f %%)%s", o, n * w, 100 * o / (n * w),
           (o > 0.10 * n * w) ? ": WARNING, over 10 %, the figures are low" : "" }'
}

say "machine         $cores cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
say "load average    $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both sides alike)"

# 2. The archive: letters of four records each, sealed and time-stamped one by one.
say "-- archive of $letters letters"
"$build/bin/sceau_bench_archive" "$work/data" "$letters" | tee -a "$report"

# 3. What the cores can verify, measured now.
say "-- openssl speed -seconds 5 -multi $cores ecdsap256"
read -r _ speed_wall speed_cpu speed_busy < <(measured "$work/speed.txt" "$work/speed.txt" \
  openssl speed -seconds 5 -multi "$cores" ecdsap256)
verify_total=$(awk '/ecdsa \(nistp256\)/ { value = $NF } END { printf "%.0f", value }' \
  "$work/speed.txt")
[ "$verify_total" -gt 0 ] || { cat "$work/speed.txt" >&2; echo "no verify/s from openssl" >&2; exit 1; }
say "verify/s        $verify_total on $cores cores"
say "other processes $(others "$speed_wall" "$speed_cpu" "$speed_busy") during openssl speed"

# 4. The audit, timed by itself.
say "-- sceau audit --data (threads: ${threads/#0/one per core})"
args=(audit --json --data "$work/data" --trust certs-sample/root-ca.pem)
[ "$threads" -gt 0 ] && args+=(--threads "$threads")
read -r status audit_wall audit_cpu audit_busy < <(measured "$work/audit.json" - "$sceau" "${args[@]}")
say "audit CPU       $(awk -v w="$audit_wall" -v c="$audit_cpu" -v n="$cores" \
  'BEGIN { printf "%.1f s in %.1f s: %.0f %% of the %d cores", c, w, 100 * c / (n * w), n }')"
say "other processes $(others "$audit_wall" "$audit_cpu" "$audit_busy") during the audit"
say "load average    $(cut -d' ' -f1-3 /proc/loadavg) (after the audit)"
python3 - "$work/audit.json" "$verify_total" "$status" <<'EOF' | tee -a "$report"
import json, sys
report = json.load(open(sys.argv[1]))
verify, status = float(sys.argv[2]), int(sys.argv[3])
records, seconds = report["records"], report["seconds"]
rate = records / seconds
bound = verify / 3
print(f"verdict         {report['verdict']} (exit {status}), {report['errors']} errors, "
      f"{report['warnings']} warnings")
print(f"checked         {records} records, {report['log_entries']} log entries, "
      f"{report['checkpoints']} checkpoints, {report['letters']} letters, "
      f"{report['documents']} documents in {seconds:.2f} s")
print(f"records/s       {rate:.0f}")
print(f"bound           {bound:.0f} records/s = {verify:.0f} verify/s / 3: a record holds three "
      f"ECDSA P-256 signatures to verify (its XAdES seal, its SignatureTimeStamp and its "
      f"event time-stamp), so the cores cannot verify records faster than a third of their "
      f"verify rate; parsing, canonicalisation, digests and the log come on top")
print(f"ratio           {100 * rate / bound:.1f} % of the bound (target: at least 50 %)")
if report["verdict"] != "clean":
    sys.exit("the generated archive did not audit clean")
EOF
echo "report: $report" >&2
