#!/usr/bin/env bash
# Runs `slayer bench` against two peers on the same work — SLAYER's math in
# plain PyTorch (slayer_torch.py) and an snnTorch MLP of the same size
# (snntorch_mlp.py) — with the same network, steps, batch, input density and
# thread count, and prints a table with the ratios ours/theirs. Before timing,
# it checks that slayer_torch.py computes what slayer-cpp computes (spikes,
# loss and weight gradients of `slayer inspect` on a small network).
#
#   bash bench/peers/run_peers.sh                        # 34x34x2-512-512-10, T 300, batch 32
#   THREADS=1 REPS=3 bash bench/peers/run_peers.sh
#   PEER_PYTHON=/usr/bin/python3 bash bench/peers/run_peers.sh   # Debian's python3-torch
#
# Installs what it needs into bench/peers/.venv (ignored by git): PyTorch's
# PyPI wheel (MKL and oneDNN inside; its CUDA libraries come along, about
# 5 GiB, because libtorch links them even on a CPU-only machine) and snnTorch.
# With PEER_PYTHON set, that interpreter is used as it is; snnTorch, if it
# lacks it, goes into bench/peers/.venv/target.
#
# Each run is a separate process; runs alternate (ours, PyTorch, snnTorch) REPS
# times and the table shows medians. On a shared machine wall-clock figures
# move with other load: the CPU-seconds columns (all threads of the process)
# move less. Everything each run printed stays in $OUT_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARCH="${ARCH:-34x34x2-512-512-10}"
STEPS="${STEPS:-300}"
BATCH="${BATCH:-32}"
DENSITY="${DENSITY:-0.01}"
THREADS="${THREADS:-2}"
REPS="${REPS:-2}"
OURS_ITERS="${OURS_ITERS:-5}"     # timed iterations per run
PEER_ITERS="${PEER_ITERS:-2}"     # PyTorch's time loops are slow: keep them short
WARMUP="${WARMUP:-1}"
SNNTORCH="${SNNTORCH:-1}"         # 0: skip snnTorch
OUT_DIR="${OUT_DIR:-$(mktemp -d /tmp/slayer_peers.XXXXXX)}"
mkdir -p "$OUT_DIR"
say() { echo "run_peers: $*" >&2; }
die() { say "error: $*"; exit 1; }

for v in STEPS BATCH THREADS REPS OURS_ITERS PEER_ITERS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

# --- Python with torch (and snnTorch) ---------------------------------------
VENV="$HERE/.venv"
if [ -n "${PEER_PYTHON:-}" ]; then
  PY="$PEER_PYTHON"
  "$PY" -c "import torch, numpy" 2>/dev/null || die "$PY cannot import torch and numpy"
  if [ "$SNNTORCH" = 1 ] && ! "$PY" -c "import snntorch" 2>/dev/null; then
    say "installing snnTorch into $VENV/target"
    "$PY" -m pip install --quiet --no-deps --target "$VENV/target" snntorch
    export PYTHONPATH="$VENV/target${PYTHONPATH:+:$PYTHONPATH}"
  fi
else
  PY="$VENV/bin/python"
  if [ ! -x "$PY" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  if ! "$PY" -c "import torch, numpy, snntorch" 2>/dev/null; then
    say "installing torch, numpy and snnTorch from PyPI into $VENV (several GiB)"
    "$PY" -m pip install --quiet --disable-pip-version-check torch numpy snntorch
  fi
fi
"$PY" -c "import torch; print('run_peers: PyTorch', torch.__version__)" >&2

# --- ours ------------------------------------------------------------------
if [ -z "${SLAYER_BIN:-}" ]; then
  say "building //tools:slayer (-c opt)"
  (cd "$ROOT" && bazel build -c opt //tools:slayer >&2)
  # A private copy: concurrent builds may replace bazel-bin's while we run.
  cp -f "$ROOT/bazel-bin/tools/slayer" "$OUT_DIR/slayer"
  SLAYER_BIN="$OUT_DIR/slayer"
fi
[ -x "$SLAYER_BIN" ] || die "no slayer binary at $SLAYER_BIN"

# --- same math? -------------------------------------------------------------
say "checking that slayer_torch.py computes what slayer-cpp computes"
CHECK="$OUT_DIR/check"
"$PY" "$HERE/slayer_torch.py" --write-check "$CHECK" >&2
"$SLAYER_BIN" inspect --model "$CHECK/model.pbtxt" --params "$CHECK/params.npz" \
    --input "$CHECK/input.npy" --label 2 --loss num_spikes --true_count 20 --false_count 4 \
    --out "$CHECK/out.npz" >&2
"$PY" "$HERE/slayer_torch.py" --check "$CHECK" >&2

# --- timing -----------------------------------------------------------------
COMMON=(--arch "$ARCH" --steps "$STEPS" --batch "$BATCH" --input-density "$DENSITY"
        --threads "$THREADS" --warmup "$WARMUP")
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); outputs in $OUT_DIR"
for rep in $(seq 1 "$REPS"); do
  say "rep $rep/$REPS: slayer-cpp"
  "$SLAYER_BIN" bench "${COMMON[@]}" --iters "$OURS_ITERS" --nobreakdown > "$OUT_DIR/ours.$rep.txt"
  say "rep $rep/$REPS: PyTorch, same math"
  "$PY" "$HERE/slayer_torch.py" "${COMMON[@]}" --iters "$PEER_ITERS" > "$OUT_DIR/torch.$rep.txt"
  if [ "$SNNTORCH" = 1 ]; then
    say "rep $rep/$REPS: snnTorch"
    "$PY" "$HERE/snntorch_mlp.py" "${COMMON[@]}" --iters "$PEER_ITERS" > "$OUT_DIR/snntorch.$rep.txt"
  fi
done
say "slayer-cpp breakdown (per layer, dense op and its GEMM path)"
"$SLAYER_BIN" bench "${COMMON[@]}" --iters "$OURS_ITERS" --gemm > "$OUT_DIR/ours.breakdown.txt"
sed -n '/^per layer/,/^forward_samples_per_s/p' "$OUT_DIR/ours.breakdown.txt" | sed '$d'

"$PY" - "$OUT_DIR" "$REPS" "$SNNTORCH" <<'PY'
import statistics, sys
out_dir, reps, snn = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
names = [("ours", "slayer-cpp"), ("torch", "PyTorch, same math")]
if snn:
    names.append(("snntorch", "snnTorch MLP"))
keys = ["train_samples_per_s", "forward_samples_per_s", "train_cpu_s_per_batch",
        "forward_cpu_s_per_batch", "peak_rss_mb"]
med = {}
per_run = {}
for tag, _ in names:
    runs = []
    for r in range(1, reps + 1):
        vals = {}
        for line in open(f"{out_dir}/{tag}.{r}.txt"):
            k, _, v = line.strip().partition("=")
            if k in keys:
                vals[k] = float(v)
        missing = [k for k in keys if k not in vals]
        if missing:
            sys.exit(f"run_peers: {out_dir}/{tag}.{r}.txt lacks {', '.join(missing)}")
        runs.append(vals)
    per_run[tag] = runs
    med[tag] = {k: statistics.median(v[k] for v in runs) for k in keys}
print(f"\nmedians of {reps} run(s) each; samples/s over wall time, CPU s = all threads")
print(f"{'':22s} {'train sam/s':>12s} {'fwd sam/s':>10s} {'train CPU s/b':>14s} "
      f"{'fwd CPU s/b':>12s} {'peak RSS MB':>12s}")
for tag, label in names:
    m = med[tag]
    print(f"{label:22s} {m['train_samples_per_s']:12.2f} {m['forward_samples_per_s']:10.2f} "
          f"{m['train_cpu_s_per_batch']:14.3f} {m['forward_cpu_s_per_batch']:12.3f} "
          f"{m['peak_rss_mb']:12.1f}")
o = med["ours"]
for tag, label in names[1:]:
    t = med[tag]
    print(f"ours/{label}: train {o['train_samples_per_s'] / t['train_samples_per_s']:.2f}x, "
          f"forward {o['forward_samples_per_s'] / t['forward_samples_per_s']:.2f}x (wall); "
          f"train {t['train_cpu_s_per_batch'] / o['train_cpu_s_per_batch']:.2f}x, "
          f"forward {t['forward_cpu_s_per_batch'] / o['forward_cpu_s_per_batch']:.2f}x (CPU time)")
# Each rep runs ours and the peer one after the other: the ratio within a
# rep is less exposed to the machine's load changing between reps.
pairs = [ours["train_samples_per_s"] / peer["train_samples_per_s"]
         for ours, peer in zip(per_run["ours"], per_run["torch"])]
print("ours/PyTorch train, rep by rep (wall): " + ", ".join(f"{r:.2f}x" for r in pairs) +
      f"; median {statistics.median(pairs):.2f}x")
PY
