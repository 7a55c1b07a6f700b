#!/usr/bin/env bash
# End-to-end checks of `slayer events` on generated event files.
set -u
SLAYER="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools/slayer"
TMP="${TEST_TMPDIR:-/tmp}"
fail() { echo "FAIL: $*"; exit 1; }

# Three .bs2 events and an overflow marker (y = 240, +8192 us):
#   x=1 y=2 p=1 t=1000; x=33 y=5 p=0 t=3000; marker; x=7 y=33 p=1 t=8192+10.
printf '\x01\x02\x80\x03\xe8\x21\x05\x00\x0b\xb8\x00\xf0\x00\x00\x00\x07\x21\x80\x00\x0a' \
  > "$TMP/ev.bs2"
out=$("$SLAYER" events "$TMP/ev.bs2") || fail "summary exited non-zero: $out"
echo "$out" | grep -q "^events: *3$" || fail "event count: $out"
echo "$out" | grep -q "^time: *1000 \.\. 8202 us" || fail "time span: $out"
echo "$out" | grep -q "^x: *1 \.\. 33$" || fail "x range: $out"
echo "$out" | grep -q "^y: *2 \.\. 33$" || fail "y range: $out"
echo "$out" | grep -q "^p: *0 \.\. 1$" || fail "p range: $out"
echo "$out" | grep -q "^events per ms:" || fail "rate: $out"
echo "$out" | grep -q "^format: *bs2$" || fail "format: $out"

# .bin is NMNIST's name for the same format; --format overrides the extension.
cp "$TMP/ev.bs2" "$TMP/ev.bin"
"$SLAYER" events "$TMP/ev.bin" | grep -q "^events: *3$" || fail ".bin not read as bs2"
cp "$TMP/ev.bs2" "$TMP/ev.dat"
"$SLAYER" events --format=bs2 "$TMP/ev.dat" | grep -q "^events: *3$" || fail "--format=bs2"

# Conversion to N x 4 int64 .npy, then read back as .npy.
"$SLAYER" events "$TMP/ev.bs2" --to "$TMP/ev.npy" >/dev/null || fail "--to exited non-zero"
head -c 6 "$TMP/ev.npy" | od -c | grep -q "N   U   M   P   Y" || fail "no .npy magic"
grep -aq "'shape': (3, 4)" "$TMP/ev.npy" || fail ".npy shape is not (3, 4)"
grep -aq "<i8" "$TMP/ev.npy" || fail ".npy dtype is not int64"
out=$("$SLAYER" events "$TMP/ev.npy") || fail "reading the .npy back: $out"
echo "$out" | grep -q "^time: *1000 \.\. 8202 us" || fail ".npy round trip: $out"

# Truncated file: exit 1, message names the file and the offset.
head -c 7 "$TMP/ev.bs2" > "$TMP/cut.bs2"
err=$("$SLAYER" events "$TMP/cut.bs2" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "truncated file should exit 1, got $rc"
echo "$err" | grep -q "cut.bs2: at byte offset 5" || fail "truncation message: $err"

# Wrong magic for AEDAT.
echo "not an aedat file" > "$TMP/bad.aedat"
err=$("$SLAYER" events "$TMP/bad.aedat" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "bad AEDAT should exit 1, got $rc"
echo "$err" | grep -q "bad.aedat: at byte offset 0" || fail "AEDAT message: $err"

# Missing file, unknown extension, usage errors.
"$SLAYER" events "$TMP/none.bs2" 2>/dev/null; [ $? -eq 1 ] || fail "missing file should exit 1"
"$SLAYER" events "$TMP/x.txt" 2>/dev/null; [ $? -eq 2 ] || fail "unknown extension should exit 2"
"$SLAYER" events 2>/dev/null; [ $? -eq 2 ] || fail "no file should exit 2"
"$SLAYER" events --format=csv "$TMP/ev.bs2" 2>/dev/null; [ $? -eq 2 ] || fail "bad --format"
echo PASS
