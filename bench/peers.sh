#!/usr/bin/env bash
# Runs memwall's GPT training-step benchmark beside its peers, one after another in each round, and writes a Markdown
# table (step time, tokens/s, peak memory) with the CPU model and the date:
#   bench/peers.sh [--rounds 2] [--peers DIR] [--out FILE] [--threads 2] [--skip NAME,...]
# Peers (same model and step, see BENCHMARKS.md): memwall (`./memwall bench --json --warmup 5 --steps 10`), samediff
# (this repository's samediff module, SameDiff/ND4J 1.0.0-M2.1), torch-gpt (Debian's PyTorch) and djl-gpt
# (PyTorch 2.7.1 through DJL, `--gelu erf`) from --peers DIR (default ../shared/peers beside the repository). A peer
# that is not there is skipped with a note; --skip names peers to leave out. Each peer runs with --threads threads
# (memwall: -Dmemwall.threads; OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for all). Builds memwall's jar and the
# SameDiff peer first, so no build runs while a peer is measured.
# Memory: memwall's JVM heap peak and, for memwall and samediff, the peak RSS of the process (GNU time's %M; memwall's
# includes the 48 MiB of arrays `bench` times its sgemm peak with, after the steps); the PyTorch peers report their
# own peak RSS (VmHWM). Logs of every run go to a temporary directory, named at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
invocation="bench/peers.sh${*:+ $*}"
rounds=2 peers="$repo/../shared/peers" out= threads=2 skip=
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --peers) peers=${2:?--peers needs a directory}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --threads) threads=${2:?--threads needs a number}; shift 2 ;;
    --skip) skip=${2:?--skip needs peer names}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "peers.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --rounds must be a positive number, not $rounds" >&2; exit 2; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --threads must be a positive number, not $threads" >&2; exit 2; }
# memwall's kernels split over -Dmemwall.threads; every BLAS (memwall's, ND4J's, Debian PyTorch's OpenBLAS) and
# OpenMP pool (ND4J, libtorch) takes its thread count from the environment.
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
export MEMWALL_JAVA_OPTS="-Dmemwall.threads=$threads${MEMWALL_JAVA_OPTS:+ $MEMWALL_JAVA_OPTS}"
logs=$(mktemp -d "${TMPDIR:-/tmp}/memwall-peers.XXXXXX")
notes=()
gnutime=/usr/bin/time
[ -x "$gnutime" ] || { gnutime=; notes+=("GNU time (/usr/bin/time) is missing: no RSS for memwall and samediff."); }

skipped() { [[ ",$skip," == *",$1,"* ]]; }

# --- builds, before anything is timed
echo "building memwall and the SameDiff peer (if needed)..." >&2
(cd "$repo" && ./memwall --version >/dev/null)
sdjar="$repo/samediff/target/memwall-samediff.jar"
if ! skipped samediff; then
  if [ ! -f "$sdjar" ] || [ -n "$(find "$repo/samediff" "$repo/autograd" -path '*/target' -prune -o \( -name '*.java' -o -name pom.xml \) -newer "$sdjar" -print -quit)" ]; then
    (cd "$repo" && mvn -q -B -ntp -DskipTests package -pl samediff -am 2>&1 | sed 's/\x1b\[[0-9;]*m//g') >&2
  fi
fi

# --- the peers: name and command (run from the repository)
names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
skipped memwall || add memwall "./memwall bench --json --warmup 5 --steps 10"
skipped samediff || add samediff "java -jar $sdjar --warmup 5 --steps 10 --threads $threads"
for p in torch-gpt djl-gpt; do
  skipped "$p" && continue
  script="$peers/$p"; [ "$p" = djl-gpt ] && script="$peers/djl-gpt.sh"
  if [ -x "$script" ]; then
    extra=; [ "$p" = djl-gpt ] && extra=" --gelu erf"
    add "$p" "$script --steps 10 --threads $threads$extra"
  else
    notes+=("$p skipped: $script not found (--peers DIR names the directory holding it).")
  fi
done

# A top-level JSON field (numbers and strings), without a JSON parser: the peers print flat objects, and memwall's
# top-level keys used here are unique in its output.
field() { { grep -o "\"$1\": *[^,}]*" <<<"$2" || true; } | head -1 | sed 's/^[^:]*: *//; s/"//g'; }
mib() { [ -n "$1" ] && [ "$1" != null ] && awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

rows=()
for ((r = 1; r <= rounds; r++)); do
  base= # memwall's tokens/s in this round, for the ratio column
  for i in "${!names[@]}"; do
    name=${names[$i]} log="$logs/$name.$r"
    echo "round $r/$rounds: $name (${cmds[$i]})" >&2
    run=(bash -c "cd '$repo' && exec ${cmds[$i]}")
    [ -n "$gnutime" ] && [[ $name == memwall || $name == samediff ]] && run=("$gnutime" -f '%M' -o "$log.rss" "${run[@]}")
    if ! "${run[@]}" >"$log.out" 2>"$log.err"; then
      echo "  $name failed; its output is in $log.err" >&2
      rows+=("| $r | $name | failed (see $log.err) | | | | | |")
      continue
    fi
    json=$(grep '^{' "$log.out" | tail -1 || true)
    if [ -z "$json" ]; then
      echo "  $name printed no JSON line; its output is in $log.out" >&2
      rows+=("| $r | $name | no result (see $log.out) | | | | | |")
      continue
    fi
    ms=$(field step_ms_median "$json") tps=$(field tokens_per_s "$json")
    gf=$(field gflops_per_s "$json"); [ -n "$gf" ] || gf=$(field model_gflops_per_s "$json")
    rss=; [ -f "$log.rss" ] && rss=$(awk '{ printf "%.0f", $1 / 1024 }' "$log.rss" | tail -1)
    [ -n "$rss" ] || rss=$(field peak_rss_mib "$json")
    heap=$(mib "$(field jvm_heap_peak_bytes "$json")" || true)
    peer=$(field peer "$json"); [ -n "$peer" ] || peer=$name
    loss=$(field loss "$json")
    [ "$name" = memwall ] && base=$tps
    ratio=; [ -n "$base" ] && [ -n "$tps" ] && ratio=$(awk -v a="$tps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
    rows+=("| $r | $peer | $ms | $tps | ${ratio:-} | $gf | ${heap:+heap $heap, }RSS ${rss:-?} | ${loss:-} |")
  done
done

table() {
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $threads threads; $(date -u '+%Y-%m-%d %H:%M UTC'); \`$invocation\`"
  echo
  echo "| round | peer | step ms (median) | tokens/s | × memwall | model GFLOP/s | peak memory (MiB) | loss |"
  echo "|---|---|---:|---:|---:|---:|---|---:|"
  printf '%s\n' "${rows[@]}"
  if [ ${#notes[@]} -gt 0 ]; then echo; printf -- '- %s\n' "${notes[@]}"; fi
}
if [ -n "$out" ]; then
  tmp=$(mktemp "$(dirname "$out")/.$(basename "$out").XXXXXX")
  table >"$tmp" && mv "$tmp" "$out"
  echo "wrote $out (run logs in $logs)" >&2
else
  table
  echo "run logs in $logs" >&2
fi
