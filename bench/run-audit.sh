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

say "machine         $cores cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
say "load average    $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both sides alike)"

# 2. The archive: letters of four records each, sealed and time-stamped one by one.
say "-- archive of $letters letters"
"$build/bin/sceau_bench_archive" "$work/data" "$letters" | tee -a "$report"

# 3. What the cores can verify, measured now.
say "-- openssl speed -seconds 5 -multi $cores ecdsap256"
openssl speed -seconds 5 -multi "$cores" ecdsap256 >"$work/speed.txt" 2>&1
verify_total=$(awk '/ecdsa \(nistp256\)/ { value = $NF } END { printf "%.0f", value }' \
  "$work/speed.txt")
[ "$verify_total" -gt 0 ] || { cat "$work/speed.txt" >&2; echo "no verify/s from openssl" >&2; exit 1; }
say "verify/s        $verify_total on $cores cores"

# 4. The audit, timed by itself.
say "-- sceau audit --data (threads: ${threads/#0/one per core})"
args=(audit --json --data "$work/data" --trust certs-sample/root-ca.pem)
[ "$threads" -gt 0 ] && args+=(--threads "$threads")
status=0
"$sceau" "${args[@]}" >"$work/audit.json" || status=$?
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
