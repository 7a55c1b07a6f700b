#!/usr/bin/env bash
# `slayer train --distributed` under mpirun on one machine (loopback TCP):
#  - 2 ranks x batch 16 end with the parameters of 1 process x batch 32, and
#    3 ranks x 16 those of 1 x 48 (a short last global batch leaves a rank
#    without rows);
#  - --distributed without mpirun is a job of one rank, identical to a plain run;
#  - a rank that stops responding makes the other fail within
#    SLAYER_MPI_TIMEOUT_S with a message naming the collective and rank, and
#    the job ends non-zero; a rank that exits ends the job too. No hangs:
#    every mpirun runs under `timeout`.
set -u
SLAYER="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools/slayer"
ALLCLOSE="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools/npz_allclose"
fail() { echo "FAIL: $*"; exit 1; }
command -v mpirun >/dev/null || fail "mpirun not found (openmpi-bin, installed by tools/setup.sh)"

tmp="${TEST_TMPDIR:-$(mktemp -d)}"
# Open MPI refuses root unless told; stay on loopback, allow more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() {
  local np=$1; shift
  timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
    --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo "$@"
}

config() {  # batch size -> config file
  cat > "$tmp/syn$1.pbtxt" <<PB
network {
  simulation { ts_ms: 1 sample_ms: 40 }
  neuron { srm { theta: 10 tau_sr_ms: 4 } }
  arch: "4x4x2-16-4o"
}
data { synthetic { train_samples: 128 test_samples: 64 density: 0.05 seed: 3 } }
loss { num_spikes { true_count: 12 false_count: 2 } }
optimizer { adam { lr: 0.05 } }
batch_size: $1
epochs: 3
seed: 5
PB
}
config 16; config 32; config 48
train() { "$SLAYER" train --progress_s 1000 --pictures=false "$@"; }
ranks() { local np=$1; shift; mpi "$np" "$SLAYER" train --progress_s 1000 --pictures=false \
  --distributed "$@"; }
log() { cat "$tmp/$1.log"; }

# 1 process x batch 32 and x 48: the references.
train --config "$tmp/syn32.pbtxt" --out "$tmp/one32" > "$tmp/one32.log" 2>&1 ||
  fail "single run: $(log one32)"
train --config "$tmp/syn48.pbtxt" --out "$tmp/one48" > "$tmp/one48.log" 2>&1 ||
  fail "single run: $(log one48)"

# --distributed without mpirun: a singleton job, bit for bit the plain run.
train --config "$tmp/syn32.pbtxt" --out "$tmp/singleton" --distributed \
  > "$tmp/singleton.log" 2>&1 || fail "--distributed without mpirun: $(log singleton)"
grep -q "distributed: 1 rank(s), global batch 32" "$tmp/singleton.log" ||
  fail "singleton summary: $(log singleton)"
"$ALLCLOSE" "$tmp/singleton/params.npz" "$tmp/one32/params.npz" --atol 0 --rtol 0 ||
  fail "a singleton job differs from a plain run"

# 2 ranks x 16 == 1 x 32; only rank 0 reports.
ranks 2 --config "$tmp/syn16.pbtxt" --out "$tmp/two" > "$tmp/two.log" 2>&1 ||
  fail "2 ranks: $(log two)"
grep -q "distributed: 2 rank(s), global batch 32" "$tmp/two.log" || fail "summary: $(log two)"
[ "$(grep -c '^result:' "$tmp/two.log")" = 1 ] || fail "one result line expected: $(log two)"
grep -q "allreduce_share=0\.[0-9]*" "$tmp/two.log" || fail "no allreduce_share: $(log two)"
"$ALLCLOSE" "$tmp/two/params.npz" "$tmp/one32/params.npz" --atol 1e-4 --rtol 1e-3 ||
  fail "2 ranks x batch 16 differ from 1 process x batch 32"

# 3 ranks x 16 == 1 x 48 (the last global batch has 32 rows: rank 2 has none).
ranks 3 --config "$tmp/syn16.pbtxt" --out "$tmp/three" > "$tmp/three.log" 2>&1 ||
  fail "3 ranks: $(log three)"
"$ALLCLOSE" "$tmp/three/params.npz" "$tmp/one48/params.npz" --atol 1e-4 --rtol 1e-3 ||
  fail "3 ranks x batch 16 differ from 1 process x batch 48"

# Rank 1 hangs before its 8th collective: rank 0 gives up after 10 s.
start=$(date +%s)
SLAYER_MPI_TIMEOUT_S=10 SLAYER_MPI_TEST_FAULT=hang:1:8 \
  ranks 2 --config "$tmp/syn16.pbtxt" --out "$tmp/hang" > "$tmp/hang.log" 2>&1
rc=$?; took=$(( $(date +%s) - start ))
[ $rc -ne 124 ] || fail "a hanging rank hung the job (killed by timeout): $(log hang)"
[ $rc -ne 0 ] || fail "a hanging rank should fail the job: $(log hang)"
grep -q "rank 1: SLAYER_MPI_TEST_FAULT: hanging" "$tmp/hang.log" ||
  fail "fault not injected: $(log hang)"
grep -qE "rank 0 of 2 .*did not complete within 10 s \(rank 0 of 2 on host .*collective #8\)" \
  "$tmp/hang.log" || fail "no clear timeout error from rank 0: $(log hang)"
[ $took -lt 60 ] || fail "stopping took ${took} s"
echo "hang: job ended with status $rc after ${took} s"

# Rank 1 exits before its 8th collective: the job ends, non-zero.
start=$(date +%s)
SLAYER_MPI_TIMEOUT_S=10 SLAYER_MPI_TEST_FAULT=exit:1:8 \
  ranks 2 --config "$tmp/syn16.pbtxt" --out "$tmp/exit" > "$tmp/exit.log" 2>&1
rc=$?; took=$(( $(date +%s) - start ))
[ $rc -ne 124 ] || fail "an exited rank hung the job (killed by timeout): $(log exit)"
[ $rc -ne 0 ] || fail "an exited rank should fail the job: $(log exit)"
grep -q "rank 1: SLAYER_MPI_TEST_FAULT: exiting" "$tmp/exit.log" ||
  fail "fault not injected: $(log exit)"
[ $took -lt 60 ] || fail "stopping took ${took} s"
echo "exit: job ended with status $rc after ${took} s"

# Bad settings are reported, not ignored.
err=$(SLAYER_MPI_TIMEOUT_S=soon train --config "$tmp/syn32.pbtxt" --out "$tmp/bad" \
  --distributed 2>&1)
[ $? -eq 1 ] || fail "a bad SLAYER_MPI_TIMEOUT_S should exit 1"
echo "$err" | grep -q "SLAYER_MPI_TIMEOUT_S='soon'" || fail "bad timeout message: $err"
echo PASS
