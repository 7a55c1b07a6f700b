"""What the two peers (slayer_torch.py, snntorch_mlp.py) share with each other
and with `slayer bench`: the dense-only arch shorthand, the benchmark flags
and their checks, and the parseable result lines.

  p = bench_parser(__doc__)             # --arch --steps --batch --input-density ...
  args = parse_checked(p)
  inputs, sizes = parse_arch(args.arch, "snntorch_mlp.py")
  print_results(args.batch, fwd, fwd_cpu, step, step_cpu)
"""

import argparse
import resource

import numpy as np


def parse_arch(arch, tool):
    """Dense-only shorthand: "34x34x2-512-512-10" -> (2312, [512, 512, 10])."""
    tokens = arch.split("-")
    dims = [int(d) for d in tokens[0].split("x")]
    layers = []
    for tok in tokens[1:]:
        tok = tok[:-1] if tok.endswith("o") else tok
        if not tok.isdigit():
            raise SystemExit(f"{tool}: only dense layers are implemented, got '{tok}' in {arch}")
        layers.append(int(tok))
    if not layers:
        raise SystemExit(f"{tool}: arch {arch} has no layer")
    return int(np.prod(dims)), layers


def bench_parser(doc):
    """The flags of `slayer bench` that the peers take, with its defaults."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--arch", default="34x34x2-512-512-10")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input-density", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    return p


def parse_checked(p):
    args = p.parse_args()
    for name in ("steps", "batch", "threads", "iters"):
        if getattr(args, name) <= 0:
            p.error(f"--{name} must be positive")
    if not 0.0 <= args.input_density <= 1.0:
        p.error("--input-density must be in [0, 1]")
    return args


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def print_results(batch, fwd, fwd_cpu, step, step_cpu):
    """The lines run_peers.sh parses, as `slayer bench` prints them."""
    print(f"forward_samples_per_s={batch / np.mean(fwd):.2f}")
    print(f"train_samples_per_s={batch / np.mean(step):.2f}")
    print(f"forward_cpu_s_per_batch={np.mean(fwd_cpu):.3f}")
    print(f"train_cpu_s_per_batch={np.mean(step_cpu):.3f}")
    print(f"peak_rss_mb={rss_mb():.1f}")
