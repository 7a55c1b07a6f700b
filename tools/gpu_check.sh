#!/usr/bin/env bash
# One prepared check of the CUDA backend on a machine with an NVIDIA GPU:
# builds slayer/cuda, runs the GPU tests (tag requires-gpu: every op against
# the CPU reference, forward and backward), runs them again under
# compute-sanitizer (memcheck, and racecheck on the shared-memory kernels)
# when the tool works there, runs the GPU benchmarks briefly (CUDA-event
# times, the NMNIST MLP training step) and prints a summary. Designed to
# finish in under 8 minutes on an H200 (the phases watch the clock).
#
# Two ways to build, chosen automatically:
#   bazel   when bazel is installed, or tools/setup.sh can install it (needs
#           root and the Debian archive);
#   direct  otherwise: nvcc and g++ straight from the sources, with Abseil,
#           GoogleTest, Google Benchmark and Eigen from the system or from
#           Debian packages brought along (--deps). A GPU host that reaches
#           no package archive needs those packages carried to it:
#
#   # here, on a machine with apt (once):
#   bash tools/gpu_check.sh --fetch-deps .gpu_deps && echo /.gpu_deps/ >> .git/info/exclude
#   # there:
#   bash tools/gpu_check.sh --deps .gpu_deps --out "$OUT"
#
# Options:
#   --out DIR          write summary.txt, build.log, tests.log, sanitizer.log,
#                      bench.log there (default /tmp/slayer_gpu_check)
#   --deps DIR         Debian packages (*.deb) or an unpacked root to build against
#   --bazel | --direct force one way to build
#   --no-sanitizer     skip the compute-sanitizer runs
#   --bench-time S     minimum GPU seconds per benchmark (default 0.1)
#   --allow-no-gpu     run even without a GPU (the GPU tests then skip)
#   --fetch-deps DIR   only download the Debian packages the direct build needs
# Exit status: 0 when every GPU test ran and passed, 1 otherwise, 2 on a usage
# error or when there is no GPU (without --allow-no-gpu).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
START=$(date +%s)

OUT=/tmp/slayer_gpu_check
DEPS=""
MODE=auto
SANITIZER=1
BENCH_TIME=0.1
ALLOW_NO_GPU=0
FETCH=""
DEP_PACKAGES=(libabsl-dev libabsl20220623 libgtest-dev libbenchmark-dev libbenchmark1debian
              libeigen3-dev)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --deps) DEPS=${2:?--deps needs a directory}; shift 2 ;;
    --bazel) MODE=bazel; shift ;;
    --direct) MODE=direct; shift ;;
    --no-sanitizer) SANITIZER=0; shift ;;
    --bench-time) BENCH_TIME=${2:?--bench-time needs seconds}; shift 2 ;;
    --allow-no-gpu) ALLOW_NO_GPU=1; shift ;;
    --fetch-deps) FETCH=${2:?--fetch-deps needs a directory}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- fetch mode
if [ -n "$FETCH" ]; then
  mkdir -p "$FETCH" || exit 1
  cd "$FETCH" || exit 1
  echo "gpu_check: downloading ${DEP_PACKAGES[*]} into $(pwd)"
  apt-get download "${DEP_PACKAGES[@]}" || { echo "gpu_check: apt-get download failed" >&2; exit 1; }
  du -sh . && ls -1 ./*.deb
  exit 0
fi

mkdir -p "$OUT" || exit 2
SUMMARY=$OUT/summary.txt
BUILD_LOG=$OUT/build.log
TEST_LOG=$OUT/tests.log
SAN_LOG=$OUT/sanitizer.log
BENCH_LOG=$OUT/bench.log
: >"$SUMMARY"; : >"$BUILD_LOG"; : >"$TEST_LOG"; : >"$SAN_LOG"; : >"$BENCH_LOG"
FAILED=0

say() { echo "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $(( $(date +%s) - START ))s; }
NPROC=$(nproc 2>/dev/null || echo 4)

# ---------------------------------------------------------------- the machine
say "== slayer-cpp GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), $NPROC cores"
say "repo: $REPO ($(git -C "$REPO" log --oneline -1 2>/dev/null || echo 'no git'))"
HAVE_GPU=0
CC_ARCH=""
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  HAVE_GPU=1
  nvidia-smi -L | tee -a "$SUMMARY"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
    2>/dev/null | tee -a "$SUMMARY"
  CC_ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
else
  say "no GPU: nvidia-smi is missing or lists no device"
  if [ "$ALLOW_NO_GPU" != 1 ]; then
    say "gpu_check: nothing to check without a GPU (use --allow-no-gpu to build and run anyway)"
    exit 2
  fi
fi

# The CUDA toolkit: /usr/local/cuda is where the Bazel build expects it.
NVCC=""
for c in /usr/local/cuda/bin/nvcc "${CUDA_HOME:-/nonexistent}/bin/nvcc" "$(command -v nvcc 2>/dev/null)"; do
  if [ -n "$c" ] && [ -x "$c" ]; then NVCC=$c; break; fi
done
if [ -z "$NVCC" ]; then
  say "FAIL: no nvcc (looked in /usr/local/cuda/bin, \$CUDA_HOME/bin and PATH)"
  exit 1
fi
CUDA_ROOT=$(cd "$(dirname "$NVCC")/.." && pwd)
if [ ! -e /usr/local/cuda ] && [ "$(id -u)" = 0 ]; then
  ln -s "$CUDA_ROOT" /usr/local/cuda && say "linked /usr/local/cuda -> $CUDA_ROOT"
fi
say "nvcc: $NVCC ($("$NVCC" --version | grep -o 'release [0-9.]*'))"
# sm_90 for the H200; whatever the device says otherwise (direct build).
[ -z "$CC_ARCH" ] && CC_ARCH=90

# Finds lib<name>.so (or a versioned one) in the usual places; prints the directory.
find_lib() {
  local name=$1 d
  for d in "$CUDA_ROOT/lib64" "$CUDA_ROOT/targets/x86_64-linux/lib" /usr/lib/x86_64-linux-gnu \
           /usr/local/lib/python3*/dist-packages/nvidia/*/lib /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
           /usr/local/lib/python3*/site-packages/nvidia/*/lib; do
    if ls "$d"/lib"$name".so* >/dev/null 2>&1; then echo "$d"; return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------- choose the build
if [ "$MODE" = auto ]; then
  if command -v bazel >/dev/null; then
    MODE=bazel
  elif [ -n "$DEPS" ]; then
    MODE=direct
  elif [ -x tools/setup.sh ] || [ -f tools/setup.sh ]; then
    # Only worth trying when a package archive answers.
    if timeout 5 getent hosts deb.debian.org >/dev/null 2>&1 ||
       timeout 5 getent hosts archive.ubuntu.com >/dev/null 2>&1; then
      say "installing the build tools (tools/setup.sh)"
      if timeout 300 bash tools/setup.sh >>"$BUILD_LOG" 2>&1 && command -v bazel >/dev/null; then
        MODE=bazel
      else
        say "tools/setup.sh did not give a working bazel (see build.log): building directly"
        MODE=direct
      fi
    else
      say "no package archive reachable: building directly (nvcc + g++)"
      MODE=direct
    fi
  else
    MODE=direct
  fi
fi
say "build: $MODE ($(elapsed))"

TEST_BINS=()   # name=path
BENCH_BINS=()  # name=path
RUN_ENV=()     # extra environment for the binaries

# ---------------------------------------------------------------- bazel build
bazel_build() {
  if ! timeout 420 bazel build --jobs="$NPROC" //slayer/cuda/... >>"$BUILD_LOG" 2>&1; then
    say "bazel build failed (tail of build.log):"
    tail -25 "$BUILD_LOG" | tee -a "$SUMMARY"
    return 1
  fi
  local t
  for t in cuda_ops_test cuda_conformance_test backend_test device_test; do
    TEST_BINS+=("$t=$REPO/bazel-bin/slayer/cuda/$t")
  done
  for t in psp spike dense conv pool loss train_step; do
    BENCH_BINS+=("${t}_benchmark=$REPO/bazel-bin/slayer/cuda/${t}_benchmark")
  done
  return 0
}

# ---------------------------------------------------------------- direct build
direct_build() {
  local work=/tmp/slayer_gpu_build root="" f d
  local -a inc=() libdirs=()
  rm -rf "$work"; mkdir -p "$work/obj" "$work/lib" "$work/jobs" || return 1
  # Dependencies: a root unpacked from .debs, an unpacked root, or the system.
  if [ -n "$DEPS" ]; then
    if ls "$DEPS"/*.deb >/dev/null 2>&1; then
      root=$work/root
      mkdir -p "$root"
      for f in "$DEPS"/*.deb; do
        if command -v dpkg >/dev/null; then
          dpkg -x "$f" "$root" || { say "cannot unpack $f"; return 1; }
        else  # a .deb is an ar archive around data.tar.*
          (cd "$work" && ar x "$f" && tar -xf data.tar.* -C "$root" && rm -f data.tar.* control.tar.* debian-binary) ||
            { say "cannot unpack $f"; return 1; }
        fi
      done
    else
      root=$(cd "$DEPS" && pwd)
    fi
  fi
  for d in "$root/usr/include" "$root/usr/include/eigen3" /usr/include/eigen3; do
    [ -n "$root" ] || [ "$d" = /usr/include/eigen3 ] || continue
    [ -d "$d" ] && inc+=(-isystem "$d")
  done
  [ -n "$root" ] && [ -d "$root/usr/lib/x86_64-linux-gnu" ] && libdirs+=("$root/usr/lib/x86_64-linux-gnu")
  libdirs+=(/usr/lib/x86_64-linux-gnu)
  local absl_dir=""
  for d in "${libdirs[@]}"; do
    if ls "$d"/libabsl_base.so >/dev/null 2>&1; then absl_dir=$d; break; fi
  done
  if [ -z "$absl_dir" ]; then
    say "FAIL: Abseil not found (give --deps with the packages from --fetch-deps)"
    return 1
  fi
  local cublas_dir cudart_dir
  cudart_dir=$(find_lib cudart) || { say "FAIL: libcudart not found"; return 1; }
  cublas_dir=$(find_lib cublas) || { say "FAIL: libcublas not found"; return 1; }
  # Unversioned names for the linker where only versioned files exist.
  local n lib dir v
  for n in "cudart:$cudart_dir" "cublas:$cublas_dir" "cublasLt:$cublas_dir"; do
    lib=${n%%:*}; dir=${n#*:}
    if [ ! -e "$dir/lib$lib.so" ]; then
      v=$(ls "$dir"/lib"$lib".so.* 2>/dev/null | head -1)
      [ -n "$v" ] && ln -sf "$v" "$work/lib/lib$lib.so"
    fi
  done
  say "deps: abseil $absl_dir, cudart $cudart_dir, cublas $cublas_dir"
  local -a cxxflags=(-std=c++17 -O2 -DNDEBUG -fPIC -mavx2 -mfma -mf16c -w -I"$REPO" "${inc[@]}"
                     -isystem "$CUDA_ROOT/include")
  # Host sources: core, the CPU ops (with the conformance suite), the CUDA
  # backend (not the emulator); mains and benchmark helpers per binary.
  local -a srcs=() mains=()
  for f in slayer/core/*.cc slayer/ops/*.cc slayer/cuda/*.cc; do
    case "$f" in
      *_test.cc|*_benchmark.cc|*/emulation.cc|*/fake_*.cc|*/benchmark_util.cc) continue ;;
    esac
    srcs+=("$f")
  done
  mains=(slayer/cuda/benchmark_util.cc slayer/cuda/*_test.cc slayer/cuda/*_benchmark.cc
         tools/devices_command.cc tools/command_flags.cc)
  cat >"$work/devices_main.cc" <<'MAIN'
#include <string>
#include <vector>
#include "tools/commands.h"
int main(int argc, char** argv) {
  return slayer::tools::RunDevicesCommand(std::vector<std::string>(argv + 1, argv + argc));
}
MAIN
  local i=0 obj
  for f in "${srcs[@]}" "${mains[@]}" "$work/devices_main.cc"; do
    obj="$work/obj/$(basename "$f").o"
    [ "${f#slayer/}" != "$f" ] && obj="$work/obj/$(echo "$f" | tr / _).o"
    printf '%s\n' "g++ ${cxxflags[*]} -c $f -o $obj" >"$work/jobs/$(printf %04d $i).sh"
    i=$((i + 1))
  done
  for f in slayer/cuda/*_kernels.cu; do
    printf '%s\n' "$NVCC -c -O3 -std=c++17 --expt-relaxed-constexpr -lineinfo -Xcompiler -fPIC -gencode arch=compute_$CC_ARCH,code=sm_$CC_ARCH -I$REPO ${inc[*]} -o $work/obj/$(echo "$f" | tr / _).o $f" >"$work/jobs/$(printf %04d $i).sh"
    i=$((i + 1))
  done
  say "compiling $i files on $NPROC cores ($(elapsed))"
  # Each job logs on its own; a file that does not compile is reported (core
  # files the GPU binaries do not need, e.g. .npy without zlib, may fail
  # harmlessly: the links below tell).
  ls "$work"/jobs/*.sh | xargs -P "$NPROC" -n 1 sh -c 'sh "$0" >"$0.log" 2>&1 || echo "$0" >"$0.failed"'
  for f in "$work"/jobs/*.sh; do
    cat "$f.log" >>"$BUILD_LOG"
    if [ -e "$f.failed" ]; then
      echo "COMPILE FAILED: $(cat "$f")" >>"$BUILD_LOG"
      say "  did not compile: $(grep -o ' -c [^ ]*' "$f" | cut -c5-)"
    fi
  done
  # Ops and CUDA objects register themselves at static initialisation, so
  # they link whole; core goes into an archive that gives what is used.
  local -a common=() core=()
  for f in "${srcs[@]}" slayer/cuda/*_kernels.cu; do
    obj="$work/obj/$(echo "$f" | tr / _).o"
    [ -f "$obj" ] || continue
    case "$f" in
      slayer/core/*) core+=("$obj") ;;
      *) common+=("$obj") ;;
    esac
  done
  rm -f "$work/lib/libslayer_core.a"
  ar rcs "$work/lib/libslayer_core.a" "${core[@]}" && common+=("$work/lib/libslayer_core.a")
  local absl_libs
  absl_libs=$(ls "$absl_dir"/libabsl_*.so | sed 's|.*/lib\(absl_[a-z0-9_]*\)\.so$|-l\1|' | tr '\n' ' ')
  local -a ldflags=(-L"$work/lib" -L"$cudart_dir" -L"$cublas_dir")
  for d in "${libdirs[@]}"; do ldflags+=(-L"$d"); done
  ldflags+=(-Wl,-rpath,"$work/lib:$cudart_dir:$cublas_dir:$absl_dir")
  local -a syslibs
  read -r -a syslibs <<<"$absl_libs -lcublas -lcudart -lpthread -ldl -lrt"
  local t ok=0
  for t in cuda_ops_test cuda_conformance_test backend_test device_test; do
    if g++ -o "$work/$t" "$work/obj/slayer_cuda_$t.cc.o" "${common[@]}" "${ldflags[@]}" \
         -lgtest_main -lgtest "${syslibs[@]}" >>"$BUILD_LOG" 2>&1; then
      TEST_BINS+=("$t=$work/$t"); ok=1
    else
      say "  link of $t failed (see build.log)"
    fi
  done
  for t in psp spike dense conv pool loss train_step; do
    if g++ -o "$work/${t}_benchmark" "$work/obj/slayer_cuda_${t}_benchmark.cc.o" \
         "$work/obj/slayer_cuda_benchmark_util.cc.o" "${common[@]}" "${ldflags[@]}" \
         -lbenchmark_main -lbenchmark "${syslibs[@]}" >>"$BUILD_LOG" 2>&1; then
      BENCH_BINS+=("${t}_benchmark=$work/${t}_benchmark")
    else
      say "  link of ${t}_benchmark failed (see build.log)"
    fi
  done
  if g++ -o "$work/slayer_devices" "$work/obj/devices_main.cc.o" "$work/obj/devices_command.cc.o" \
       "$work/obj/command_flags.cc.o" "${common[@]}" "${ldflags[@]}" "${syslibs[@]}" \
       >>"$BUILD_LOG" 2>&1; then
    SLAYER_DEVICES="$work/slayer_devices"
  fi
  RUN_ENV=(LD_LIBRARY_PATH="$work/lib:$cudart_dir:$cublas_dir:$absl_dir:${LD_LIBRARY_PATH:-}")
  [ "$ok" = 1 ]
}

SLAYER_DEVICES=""
if [ "$MODE" = bazel ]; then
  bazel_build || { FAILED=1; say "falling back to the direct build"; MODE=direct; }
fi
if [ "$MODE" = direct ] && [ ${#TEST_BINS[@]} -eq 0 ]; then
  direct_build || FAILED=1
fi
say "built ${#TEST_BINS[@]} test and ${#BENCH_BINS[@]} benchmark binaries ($(elapsed))"
if [ -n "$SLAYER_DEVICES" ]; then
  say "== slayer devices"
  env "${RUN_ENV[@]}" "$SLAYER_DEVICES" 2>&1 | sed 's/^/  /' | tee -a "$SUMMARY"
fi

# ---------------------------------------------------------------- tests
# Counts gtest's result lines of one log: "passed failed skipped" (gtest
# repeats failed and skipped names in its recap: count names once).
gtest_counts() {
  local log=$1 p f s
  p=$(grep -c '^\[       OK \] ' "$log")
  f=$(grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | sed -E 's/^\[  FAILED  \] ([^ ,]+).*/\1/' | sort -u | wc -l)
  s=$(grep -E '^\[  SKIPPED \] [A-Za-z]' "$log" | sed -E 's/^\[  SKIPPED \] ([^ ,]+).*/\1/' | sort -u | wc -l)
  echo "$p $f $s"
}

# Reports one test binary's log (and exit status).
report_test() {
  local name=$1 log=$2 rc=$3 p f s verdict=ok
  { echo "==== $name (exit $rc)"; cat "$log"; } >>"$TEST_LOG"
  read -r p f s <<<"$(gtest_counts "$log")"
  if [ "$rc" != 0 ] || [ "$f" != 0 ] || [ "$p$s" = 00 ]; then verdict=FAIL; FAILED=1; fi
  # On a GPU host nothing may skip: a skip means the device was not found.
  if [ "$HAVE_GPU" = 1 ] && [ "$s" != 0 ]; then verdict="FAIL (skipped)"; FAILED=1; fi
  [ "$rc" = 124 ] && verdict="FAIL (timed out)"
  say "$(printf '  %-24s %-16s passed %3s  failed %3s  skipped %3s' "$name" "$verdict" "$p" "$f" "$s")"
  grep -E '^\[  FAILED  \] [A-Za-z]|: INTERNAL|worst at|no CUDA device' "$log" | sort -u | head -12 |
    sed 's/^/      /' | tee -a "$SUMMARY"
}

run_tests() {
  local entry name bin log rc
  if [ "$MODE" = bazel ]; then
    # The GPU tests through bazel (tag requires-gpu), one at a time.
    timeout 420 bazel test --jobs="$NPROC" --local_test_jobs=1 --test_timeout=300 \
      --test_tag_filters=requires-gpu --test_output=summary //slayer/cuda/... >>"$BUILD_LOG" 2>&1
    for entry in "${TEST_BINS[@]}"; do
      name=${entry%%=*}; bin=${entry#*=}
      log=$REPO/bazel-testlogs/slayer/cuda/$name/test.log
      if [ -f "$log" ] && [ "$name" != device_test ]; then
        rc=0
        grep -q '^\[  FAILED  \]' "$log" && rc=1
        grep -q '^\[==========\] .* ran\.' "$log" || rc=1  # crashed before the end
        report_test "$name" "$log" "$rc"
        continue
      fi
      # Not a requires-gpu test (device_test) or no bazel log: run the binary.
      log=$OUT/.$name.log
      env "${RUN_ENV[@]}" timeout 300 "$bin" >"$log" 2>&1
      report_test "$name" "$log" "$?"
      rm -f "$log"
    done
    return
  fi
  for entry in "${TEST_BINS[@]}"; do
    name=${entry%%=*}; bin=${entry#*=}
    log=$OUT/.$name.log
    env "${RUN_ENV[@]}" timeout 300 "$bin" >"$log" 2>&1
    report_test "$name" "$log" "$?"
    rm -f "$log"
  done
}

say "== GPU tests ($(elapsed))"
run_tests

# ---------------------------------------------------------------- sanitizer
SANITIZER_BIN=""
for c in compute-sanitizer "$CUDA_ROOT/bin/compute-sanitizer" /opt/nvidia/nsight-compute/*/compute-sanitizer/compute-sanitizer; do
  if command -v "$c" >/dev/null 2>&1; then SANITIZER_BIN=$(command -v "$c"); break; fi
done
# sanitize TOOL TEST TIMEOUT [GTEST_FILTER]: runs a test binary under
# compute-sanitizer; a tool that cannot run on this machine is a skip.
sanitize() {
  local tool=$1 name=$2 limit=$3 filter=${4:-} entry bin="" log rc summary_line
  for entry in "${TEST_BINS[@]}"; do [ "${entry%%=*}" = "$name" ] && bin=${entry#*=}; done
  [ -n "$bin" ] || return 0
  log=$OUT/.san_$name.log
  local -a args=(--tool "$tool" --error-exitcode 99)
  [ "$tool" = memcheck ] && args+=(--leak-check no)
  env "${RUN_ENV[@]}" timeout "$limit" "$SANITIZER_BIN" "${args[@]}" "$bin" \
    ${filter:+--gtest_filter=$filter} >"$log" 2>&1
  rc=$?
  { echo "==== $tool $name ${filter:+($filter) }(exit $rc)"; cat "$log"; } >>"$SAN_LOG"
  summary_line=$(grep -m1 'ERROR SUMMARY' "$log" || true)
  if [ -z "$summary_line" ] && grep -qiE 'not supported|unable to|failed to (initialize|launch)' "$log"; then
    say "  $tool $name: compute-sanitizer cannot run here: $(grep -m1 -iE 'not supported|unable to|failed to' "$log")"
  elif [ "$rc" = 124 ]; then
    say "  $tool $name: timed out after ${limit}s (partial log in sanitizer.log)"
  elif [ "$rc" = 99 ] || ! echo "$summary_line" | grep -q ' 0 errors'; then
    say "  $tool $name: FAIL: ${summary_line:-exit $rc}"
    grep -m8 -E '^========= (Invalid|Out of|Program hit|Error|Race|Warning|    at )' "$log" |
      sed 's/^/      /' | tee -a "$SUMMARY"
    FAILED=1
  else
    say "  $tool $name: clean ($summary_line)"
  fi
  rm -f "$log"
}

if [ "$SANITIZER" = 1 ] && [ "$HAVE_GPU" = 1 ]; then
  say "== compute-sanitizer ($(elapsed))"
  if [ -z "$SANITIZER_BIN" ]; then
    say "  compute-sanitizer not found: skipped"
  else
    # Each run only while the whole check stays inside its 8 minutes
    # (benchmarks need about a minute and a half at the end).
    time_left() { [ $(( $(date +%s) - START )) -lt "$1" ]; }
    if time_left 300; then sanitize memcheck cuda_ops_test 120; else say "  memcheck skipped: out of time"; fi
    if time_left 300; then sanitize memcheck cuda_conformance_test 120; else say "  memcheck skipped: out of time"; fi
    # Shared-memory hazards of the tiled kernels (psp, spike, loss and delay reductions).
    if time_left 330; then
      sanitize racecheck cuda_ops_test 90 'CudaPsp.*:CudaSpike.*:CudaLoss.*:CudaDelay.*'
    else
      say "  racecheck skipped: out of time"
    fi
  fi
fi

# ---------------------------------------------------------------- benchmarks
say "== GPU benchmarks, min ${BENCH_TIME}s GPU time each ($(elapsed))"
for entry in "${BENCH_BINS[@]}"; do
  name=${entry%%=*}; bin=${entry#*=}
  { echo "==== $name"; env "${RUN_ENV[@]}" timeout 150 "$bin" --benchmark_min_time="$BENCH_TIME" 2>&1; echo "(exit $?)"; } >>"$BENCH_LOG"
done
bench_errors=$(grep -c 'ERROR OCCURRED' "$BENCH_LOG")
if [ "$HAVE_GPU" = 1 ]; then
  grep -E '^BM_' "$BENCH_LOG" | sed 's/^/  /' | tee -a "$SUMMARY"
  if [ "$bench_errors" != 0 ]; then say "  $bench_errors benchmarks failed"; FAILED=1; fi
else
  grep -E '^BM_' "$BENCH_LOG" | grep -v 'ERROR OCCURRED' | sed 's/^/  /' | tee -a "$SUMMARY"
  say "  $bench_errors benchmarks reported an error (no GPU: expected; see bench.log)"
fi

# ---------------------------------------------------------------- slayer devices (bazel)
if [ "$MODE" = bazel ] && [ $(( $(date +%s) - START )) -lt 360 ]; then
  if timeout 120 bazel build --jobs="$NPROC" //tools:slayer >>"$BUILD_LOG" 2>&1; then
    say "== slayer devices"
    "$REPO/bazel-bin/tools/slayer" devices 2>&1 | sed 's/^/  /' | tee -a "$SUMMARY"
  else
    say "(//tools:slayer did not build in time: slayer devices not run)"
  fi
fi

# ---------------------------------------------------------------- verdict
say "== $( [ "$FAILED" = 0 ] && echo PASS || echo FAIL ) in $(elapsed) (logs in $OUT)"
exit "$FAILED"
