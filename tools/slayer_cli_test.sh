#!/usr/bin/env bash
# End-to-end checks of the `slayer` binary's command line.
set -u
SLAYER="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools/slayer"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$SLAYER" --help) || fail "--help exited non-zero"
for c in train eval inspect events bench devices; do
  echo "$out" | grep -q "^  $c " || fail "--help does not list '$c'"
  "$SLAYER" "$c" --help >/dev/null || fail "'$c --help' exited non-zero"
done

"$SLAYER" frobnicate 2>/dev/null; [ $? -eq 2 ] || fail "unknown command should exit 2"
err=$("$SLAYER" events --no-such-flag 2>&1); [ $? -eq 2 ] || fail "bad flag should exit 2"
echo "$err" | grep -q "unknown flag" || fail "bad flag message: $err"
"$SLAYER" 2>/dev/null; [ $? -eq 2 ] || fail "no command should exit 2"
# An invalid config names the field, the bad value and what is allowed.
tmp="${TEST_TMPDIR:-/tmp}"
cat > "$tmp/bad.pbtxt" <<'PB'
network { simulation { ts_ms: -1 } arch: "10-2" }
data { synthetic {} }
loss { num_spikes {} }
PB
err=$("$SLAYER" train --config "$tmp/bad.pbtxt" --out "$tmp/run" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "invalid config should exit 1, got $rc"
echo "$err" | grep -q "simulation.ts_ms" || fail "error should name the field: $err"
echo "$err" | grep -q -- "-1" || fail "error should give the value: $err"

cat > "$tmp/typo.pbtxt" <<'PB'
network { arch: "10-2" }
data { synthetic {} }
loss { num_spikes { true_cont: 3 } }
PB
err=$("$SLAYER" train --config "$tmp/typo.pbtxt" 2>&1); [ $? -eq 1 ] || fail "typo should exit 1"
echo "$err" | grep -q "typo.pbtxt:3" || fail "parse error should give file:line: $err"
echo "$err" | grep -q "true_cont" || fail "parse error should name the field: $err"

err=$("$SLAYER" train --config "$tmp/missing.pbtxt" 2>&1); [ $? -eq 1 ] || fail "missing config should exit 1"
echo "$err" | grep -q "missing.pbtxt" || fail "missing config should be named: $err"

# A tiny real run: train two epochs, evaluate the best parameters, inspect one sample.
cat > "$tmp/syn.pbtxt" <<'PB'
network { simulation { ts_ms: 1 sample_ms: 30 } arch: "3x3x2-8-3o" }
data { synthetic { train_samples: 24 test_samples: 12 density: 0.05 } }
loss { num_spikes { true_count: 8 false_count: 1 } }
optimizer { adam { lr: 0.05 } }
batch_size: 8
epochs: 2
PB
"$SLAYER" train --config "$tmp/syn.pbtxt" --out "$tmp/run" > "$tmp/train.log" 2>&1 || fail "train: $(cat "$tmp/train.log")"
grep -q "result: 2 epochs" "$tmp/train.log" || fail "train summary missing: $(cat "$tmp/train.log")"
for f in metrics.csv params.npz best.npz checkpoint.npz config.pbtxt learning_curve.png raster.png confusion.png; do
  [ -s "$tmp/run/$f" ] || fail "run folder lacks $f"
done
out=$("$SLAYER" eval --config "$tmp/syn.pbtxt" --params "$tmp/run/best.npz") || fail "eval failed: $out"
echo "$out" | grep -q "^accuracy=" || fail "eval prints no accuracy: $out"
echo "$out" | grep -q "^ties=[0-9]" || fail "eval prints no tie count: $out"
"$SLAYER" eval --config "$tmp/syn.pbtxt" --params "$tmp/run/best.npz" --confusion_png "$tmp/c.png" > /dev/null || fail "eval --confusion_png failed"
[ "$(head -c 4 "$tmp/c.png" | tail -c 3)" = "PNG" ] || fail "eval --confusion_png wrote no PNG"
err=$("$SLAYER" eval --config "$tmp/syn.pbtxt" --params "$tmp/run/best.npz" --confusion_png "$tmp/no/such/dir/c.png" 2>&1); [ $? -eq 1 ] || fail "eval to a missing folder should exit 1"
echo "$err" | grep -q "no/such/dir/c.png" || fail "eval --confusion_png error should name the file: $err"
echo "$out" | grep -q "^confusion (rows: label, columns: predicted)" || fail "eval prints no confusion matrix: $out"
[ "$(echo "$out" | grep -c -E '^ +[0-2]( +[0-9]+){3}$')" -eq 3 ] || fail "eval: expected 3 confusion rows of 3 counts: $out"
err=$("$SLAYER" eval --config "$tmp/syn.pbtxt" --params "$tmp/run/metrics.csv" 2>&1); [ $? -eq 1 ] || fail "eval of a non-npz should exit 1"
echo "$err" | grep -q "metrics.csv" || fail "eval error should name the file: $err"

echo 'network { simulation { ts_ms: 1 sample_ms: 30 } arch: "3x3x2-8-3o" }' > "$tmp/model.pbtxt"
"$SLAYER" train --config "$tmp/syn.pbtxt" --out "$tmp/run" --resume --epochs 3 > "$tmp/resume.log" 2>&1 || fail "resume: $(cat "$tmp/resume.log")"
grep -q "resuming" "$tmp/resume.log" || fail "resume did not resume: $(cat "$tmp/resume.log")"
grep -q "^epochs: 3$" "$tmp/run/config.pbtxt" || fail "config.pbtxt should hold the epochs run (3)"
# The checkpoint is after epoch 3 now: a run of 2 epochs cannot end with it.
err=$("$SLAYER" train --config "$tmp/syn.pbtxt" --out "$tmp/run" --resume --epochs 2 2>&1); rc=$?
[ $rc -eq 1 ] || fail "resuming past --epochs should exit 1, got $rc"
echo "$err" | grep -q "after epoch 3, past the end of a run of 2 epochs" || fail "resume past the end: $err"
for bad in "--checkpoint_s=-1" "--checkpoint_s=nan" "--epochs=-2" "--max_batches=-1"; do
  err=$("$SLAYER" train --config "$tmp/syn.pbtxt" --out "$tmp/run2" "$bad" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "$bad should exit 2, got $rc: $err"
  echo "$err" | grep -q -- "${bad%%=*}" || fail "$bad: error should name the flag: $err"
done

echo PASS
