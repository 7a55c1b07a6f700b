#!/usr/bin/env bash
# `slayer bench` on a tiny network: the parseable lines appear with positive
# numbers, the breakdown runs, and bad flags are usage errors (exit 2) that
# name the flag; a misspelt SLAYER_GEMM is named. --device cuda either runs
# (a GPU host) or says why not.
set -u
SLAYER="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools/slayer"
fail() { echo "FAIL: $*"; exit 1; }
tiny=(--arch 6x6x2-16-4 --steps 20 --batch 4 --input-density 0.2 --threads 2 --iters 2 --warmup 1)

out=$("$SLAYER" bench "${tiny[@]}" --gemm 2>&1) || fail "tiny bench exited non-zero: $out"
for key in forward_samples_per_s train_samples_per_s peak_rss_mb forward_cpu_s_per_batch \
           train_cpu_s_per_batch; do
  line=$(echo "$out" | grep "^$key=") || fail "no '$key=' line in: $out"
  echo "$line" | grep -Eq "^$key=[0-9]+(\.[0-9]+)?$" || fail "not a number: $line"
done
for key in forward_samples_per_s train_samples_per_s peak_rss_mb; do
  value=$(echo "$out" | sed -n "s/^$key=//p")
  awk -v v="$value" 'BEGIN { exit !(v > 0) }' || fail "$key should be positive, got $value"
done
echo "$out" | grep -q "^  fc1 .*dense 72->16" || fail "no per-layer breakdown: $out"
echo "$out" | grep -q "GEMM path" || fail "--gemm printed no GEMM-path timings: $out"
# Timed after untimed training steps, with the hidden layers' activity said
# before and after.
echo "$out" | grep -q "20 untimed training steps first (.*); hidden spike density then: fc1 0\.[0-9]*$" ||
  fail "no settling line with fc1's density: $out"
echo "$out" | grep -q "hidden spike density after the last step: fc1 0\.[0-9]*$" ||
  fail "no hidden density after the timed steps: $out"
# The same seed gives the same input and loss.
again=$("$SLAYER" bench "${tiny[@]}" 2>&1) || fail "second run failed: $again"
[ "$(echo "$out" | grep -o 'last loss [^,]*')" = "$(echo "$again" | grep -o 'last loss [^,]*')" ] ||
  fail "the same seed gave different losses"
# The input's events go to the first dense layer (recorded once, as the
# trainer records them while loading); without them it scans its input:
# the same loss either way.
sparse=(--arch 6x6x2-16-4 --steps 40 --batch 4 --input-density 0.02 --threads 2 --iters 1
        --warmup 0 --breakdown=false)
with=$("$SLAYER" bench "${sparse[@]}" 2>&1) || fail "bench with input events: $with"
echo "$with" | grep -q "input events: recorded once" || fail "no input-events line: $with"
without=$("$SLAYER" bench "${sparse[@]}" --input-events=false 2>&1) ||
  fail "bench --input-events=false: $without"
echo "$without" | grep -q "input events: none" || fail "--input-events=false not said: $without"
[ "$(echo "$with" | grep -o 'last loss [^,]*')" = "$(echo "$without" | grep -o 'last loss [^,]*')" ] ||
  fail "input events changed the loss: $with // $without"
# SLAYER_GEMM names two choices, "eigen" and "fp32", both said in the
# header; anything else is said to be ignored.
out=$(SLAYER_GEMM=eigen "$SLAYER" bench "${tiny[@]}" --gemm 2>&1) || fail "SLAYER_GEMM=eigen: $out"
echo "$out" | grep -q "not a choice" && fail "SLAYER_GEMM=eigen should pass silently: $out"
echo "$out" | grep -q "^  CPU GEMM: Eigen" || fail "SLAYER_GEMM=eigen not said: $out"
out=$(SLAYER_GEMM=fp32 "$SLAYER" bench "${tiny[@]}" 2>&1) || fail "SLAYER_GEMM=fp32: $out"
echo "$out" | grep -q "not a choice" && fail "SLAYER_GEMM=fp32 should pass silently: $out"
echo "$out" | grep -Eq "^  CPU GEMM: (AVX-512 fp32$|Eigen )" || fail "SLAYER_GEMM=fp32 not said: $out"
out=$(SLAYER_GEMM=eign "$SLAYER" bench "${tiny[@]}" --gemm 2>&1) || fail "SLAYER_GEMM=eign: $out"
echo "$out" | grep -q 'SLAYER_GEMM=eign is not a choice' ||
  fail "a misspelt SLAYER_GEMM should be named: $out"
# SLAYER_POOL_SPIN_US takes microseconds (0: no spinning); anything else is
# named and the default used.
out=$(SLAYER_POOL_SPIN_US=0 "$SLAYER" bench "${tiny[@]}" 2>&1) || fail "SLAYER_POOL_SPIN_US=0: $out"
echo "$out" | grep -q "SLAYER_POOL_SPIN_US" && fail "SLAYER_POOL_SPIN_US=0 should pass silently: $out"
out=$(SLAYER_POOL_SPIN_US=fast "$SLAYER" bench "${tiny[@]}" 2>&1) ||
  fail "SLAYER_POOL_SPIN_US=fast: $out"
echo "$out" | grep -q 'SLAYER_POOL_SPIN_US=fast is not a number of microseconds' ||
  fail "a bad SLAYER_POOL_SPIN_US should be named: $out"
# A conv/pool network runs too.
out=$("$SLAYER" bench --arch 8x8x2-4c3-2a-3o --steps 10 --batch 2 --iters 1 --warmup 0 2>&1) ||
  fail "conv bench failed: $out"
echo "$out" | grep -q "^train_samples_per_s=" || fail "conv bench: no train line: $out"

expect_usage() {  # expect_usage "what the message names" args...
  local want="$1"; shift
  local err rc
  err=$("$SLAYER" bench "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] || fail "'bench $*' should exit 2, got $rc: $err"
  echo "$err" | grep -q -- "$want" || fail "'bench $*' should name $want: $err"
}
expect_usage "--steps" --steps 0
expect_usage "--batch" --batch -3
expect_usage "--input-density" --input-density 1.5
expect_usage "--input-density" --input-density -0.1
expect_usage "--iters" --iters 0
expect_usage "--warmup" --warmup -1
expect_usage "--settle" --settle -2
expect_usage "--ts_ms" --ts_ms 0
expect_usage "--threads" --threads -1
expect_usage "--device" --device tpu
expect_usage "--arch" --arch 34x34x2-5q-10
expect_usage "unknown flag" --no-such-flag 1
expect_usage "unexpected argument" stray

err=$("$SLAYER" bench --device cuda --arch 4-2 --steps 5 --batch 2 --iters 1 2>&1); rc=$?
if [ $rc -ne 0 ]; then
  [ $rc -eq 1 ] || fail "--device cuda without a device should exit 1, got $rc: $err"
  echo "$err" | grep -q -- "--device cuda" || fail "--device cuda error should say so: $err"
  echo "skipped --device cuda run: $err"
else
  echo "$err" | grep -q "^train_samples_per_s=" || fail "--device cuda printed no train line: $err"
fi
echo "PASS"
