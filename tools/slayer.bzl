"""Build wrappers for slayer-cpp: the one place that owns compiler flags,
warnings-as-errors and CUDA architectures (like abseil's ABSL_DEFAULT_COPTS).

    load("//tools:slayer.bzl", "slayer_cc_library", "slayer_cc_test")
"""

# Portable x86-64-v3 (AVX2 + FMA) by default: `-c opt` binaries must also run
# on the GPU host. `--config=native` (in .bazelrc) adds -march=native.
SLAYER_COPTS = [
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-sign-compare",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-mavx2",
    "-mfma",
    "-mf16c",
]

SLAYER_TEST_COPTS = SLAYER_COPTS + ["-Wno-unused-variable"]

# Compute capabilities compiled into every CUDA object: A100 and H100/H200.
SLAYER_CUDA_ARCHS = ["80", "90"]

def slayer_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = SLAYER_COPTS + copts, **kwargs)

def slayer_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = SLAYER_COPTS + copts, **kwargs)

def slayer_cc_test(name, copts = [], deps = [], **kwargs):
    """A GoogleTest test; links gtest_main unless deps bring their own main."""
    native.cc_test(
        name = name,
        copts = SLAYER_TEST_COPTS + copts,
        deps = deps + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )

def slayer_cc_benchmark(name, copts = [], deps = [], tags = [], **kwargs):
    """A Google Benchmark binary: `bazel run -c opt //pkg:name`."""
    native.cc_binary(
        name = name,
        testonly = True,
        copts = SLAYER_TEST_COPTS + copts,
        deps = deps + ["@com_google_benchmark//:benchmark_main"],
        tags = tags + ["benchmark"],
        **kwargs
    )

def slayer_cuda_library(name, srcs = [], hdrs = [], cuda_hdrs = [], deps = [], copts = [], **kwargs):
    """Compiles each .cu in `srcs` with nvcc (sm_80 and sm_90) into a PIC
    object and wraps the objects in a cc_library.

    `cuda_hdrs` lists every header the .cu files include from this repository
    (nvcc runs in a genrule, which sees only the files named to it); system
    headers (Abseil, CUDA) come from /usr/include and /usr/local/cuda.
    Warnings are errors on both sides: nvcc's own (-Werror all-warnings) and
    the host compiler's (SLAYER_COPTS' -W flags). -lineinfo keeps source lines
    for compute-sanitizer and ncu without changing the code.
    """
    objs = []
    gencode = " ".join([
        "-gencode arch=compute_%s,code=sm_%s" % (a, a)
        for a in SLAYER_CUDA_ARCHS
    ] + ["-gencode arch=compute_90,code=compute_90"])
    host_flags = ",".join(["-fPIC"] + [f for f in SLAYER_COPTS if f.startswith("-W")])
    for src in srcs:
        base = src.rsplit(".", 1)[0]
        obj = "_objs_cuda/%s/%s.pic.o" % (name, base)
        native.genrule(
            name = "%s_%s_nvcc" % (name, base.replace("/", "_")),
            srcs = [src] + hdrs + cuda_hdrs,
            outs = [obj],
            cmd = ("/usr/local/cuda/bin/nvcc -c -O3 -std=c++17 --expt-relaxed-constexpr -lineinfo " +
                   "-Xcompiler " + host_flags + " -Werror all-warnings " + gencode +
                   " -I. -I$(GENDIR) -isystem /usr/local/cuda/include " +
                   " ".join(copts) + " -o $@ $(location %s)" % src),
            message = "nvcc %s" % src,
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart"],
        alwayslink = 1,
        **kwargs
    )
