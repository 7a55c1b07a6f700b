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
echo PASS
