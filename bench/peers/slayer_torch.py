"""SLAYER in plain PyTorch: the same network and the same math as `slayer bench`
(SPEC §2-5), written the way slayerPytorch is, so that the throughput ratio is
one of implementations, not of algorithms.

  dense      u = W·s at every step (one matmul over [N, I, T])
  psp        a[t] = Ts·Σ_k eps[k]·u[t−k]: conv1d along time with the SRM kernel
             flipped (depthwise, one group per neuron), left zero padding, times
             Ts (autograd gives the correlation)
  spike      the refractory recurrence as a Python loop over time with the nu
             kernel (adding nu only to the neurons that fired), inside a torch.autograd.Function whose backward is
             g_u = g_s·rho(u), rho(u) = scale_rho/(tau_rho·theta)·exp(−|u−theta|/(tau_rho·theta))
  loss       num_spikes (true 60, false 10 per 300 ms, region = whole sample)
  optimiser  torch.optim.Adam(lr 1e-3, betas (0.9, 0.999), eps 1e-8)

  python slayer_torch.py --arch 34x34x2-512-512-10 --steps 300 --batch 32 \
      --input-density 0.01 --threads 2 --iters 3 --warmup 1
  # prints forward_samples_per_s=, train_samples_per_s=, peak_rss_mb= like `slayer bench`

Checking that it is the same math: `--write-check DIR` writes a small model,
parameters and one input; `slayer inspect` runs them; `--check DIR` compares
its spikes, weight gradients and loss with this implementation's
(run_peers.sh does all three).
"""

import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from peer_common import bench_parser, parse_arch, parse_checked, print_results

# SRM defaults of slayer/proto/network.proto (SPEC §2).
SRM = dict(theta=10.0, tau_sr_ms=10.0, tau_ref_ms=1.0, scale_ref=2.0, tau_rho=1.0,
           scale_rho=1.0, epsilon_sr=0.01, epsilon_ref=1e-4)


def alpha_kernel(tau, mult, ts, epsilon, max_taps):
    """slayer/ops/srm_kernel.cc: stop at the first k with |alpha| < epsilon and t > tau."""
    taps = []
    for k in range(max_taps):
        t = k * ts
        v = mult * (t / tau) * math.exp(1.0 - t / tau)
        if abs(v) < epsilon and t > tau:
            break
        taps.append(v)
    return torch.tensor(taps, dtype=torch.float32)


class SpikeFunction(torch.autograd.Function):
    """spike(u) with the refractory recurrence forward, rho(u) backward."""

    @staticmethod
    def forward(ctx, u, nu, theta, ts, tau_rho, scale_rho):
        # Time-major so that each step touches one contiguous [N, O] slice.
        ut = u.detach().permute(2, 0, 1).contiguous()
        steps, taps = ut.shape[0], nu.shape[0]
        s = torch.zeros_like(ut)
        nu_col = nu.view(-1, 1)
        for t in range(steps):
            # Spikes are sparse: only the neurons that fire get nu added.
            b, o = torch.nonzero(ut[t] >= theta, as_tuple=True)
            if b.numel() == 0:
                continue
            s[t, b, o] = 1.0 / ts
            n = min(taps, steps - t)
            ut[t:t + n, b, o] += nu_col[:n]
        u_after = ut.permute(1, 2, 0)
        ctx.u = u_after
        ctx.consts = (theta, tau_rho, scale_rho)
        return s.permute(1, 2, 0).contiguous()

    @staticmethod
    def backward(ctx, grad_s):
        u = ctx.u
        theta, tau_rho, scale_rho = ctx.consts
        width = tau_rho * theta
        rho = (scale_rho / width) * torch.exp(-(u - theta).abs() / width)
        return grad_s * rho, None, None, None, None, None


def psp(x, eps_flipped, ts):
    """a[t] = Ts * sum_k eps[k] x[t-k] for x [N, C, T]: a depthwise conv1d (one
    group per channel; 4x faster here than [N*C, 1, T] with one channel)."""
    c, k = x.shape[1], eps_flipped.shape[-1]
    weight = eps_flipped.expand(c, 1, k)
    return F.conv1d(F.pad(x, (k - 1, 0)), weight, groups=c) * ts


class SlayerMlp(torch.nn.Module):
    def __init__(self, inputs, layer_sizes, steps, ts, seed, weight_scale=10.0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.weights = torch.nn.ParameterList()
        fan_in = inputs
        for out in layer_sizes:
            bound = weight_scale / math.sqrt(fan_in)
            w = (torch.rand(out, fan_in, generator=gen) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            fan_in = out
        self.ts = ts
        eps = alpha_kernel(SRM["tau_sr_ms"], 1.0, ts, SRM["epsilon_sr"], steps)
        nu = alpha_kernel(SRM["tau_ref_ms"], -SRM["scale_ref"] * SRM["theta"], ts,
                          SRM["epsilon_ref"], steps)
        self.register_buffer("eps_flipped", eps.flip(0).view(1, 1, -1).contiguous())
        self.register_buffer("nu", nu)
        self.spikes, self.potentials = [], []

    def forward(self, s, keep=False):
        """s: [N, I, T] of amplitude 1/Ts -> output spikes [N, O, T]."""
        self.spikes, self.potentials = [], []
        for w in self.weights:
            u = torch.matmul(w, s)  # [O, I] @ [N, I, T]
            a = psp(u, self.eps_flipped, self.ts)
            s = SpikeFunction.apply(a, self.nu, SRM["theta"], self.ts, SRM["tau_rho"],
                                    SRM["scale_rho"])
            if keep:
                self.spikes.append(s)
        return s


def num_spikes_loss(model, s, labels, true_count, false_count):
    """SPEC §4 with R = the whole sample: e = psp(s − s·1_R) + (a − d)/|R|·1_R."""
    ts = model.ts
    steps = s.shape[-1]
    actual = s.sum(-1, keepdim=True) * ts
    desired = torch.full_like(actual, false_count)
    desired.scatter_(1, labels.view(-1, 1, 1), true_count)
    count_error = ((actual - desired) / steps).detach()
    error = psp(s - s.detach(), model.eps_flipped, ts) + count_error
    return 0.5 * ts * (error ** 2).sum(), actual.squeeze(-1)


def bench(args):
    torch.set_num_threads(args.threads)
    inputs, sizes = parse_arch(args.arch, "slayer_torch.py")
    ts = args.ts_ms
    model = SlayerMlp(inputs, sizes, args.steps, ts, args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed + 1)
    x01 = (torch.rand(args.batch, inputs, args.steps, generator=gen) < args.input_density).float()
    x = x01 / ts
    labels = torch.randint(0, sizes[-1], (args.batch,), generator=gen)
    sample_ms = args.steps * ts
    true_count, false_count = 60.0 * sample_ms / 300.0, 10.0 * sample_ms / 300.0
    print(f"slayer_torch: PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"arch {args.arch}, T {args.steps}, batch {args.batch}, input density "
          f"{args.input_density} (measured {x01.mean().item():.5f}), "
          f"eps {model.eps_flipped.numel()} taps, nu {model.nu.numel()} taps")
    sys.stdout.flush()

    def cpu_s():
        return time.process_time()

    fwd, fwd_cpu = [], []
    with torch.no_grad():
        for it in range(args.warmup + args.iters):
            t0, c0 = time.perf_counter(), cpu_s()
            model(x, keep=True)
            if it >= args.warmup:
                fwd.append(time.perf_counter() - t0)
                fwd_cpu.append(cpu_s() - c0)
    densities = [f"{s.ne(0).float().mean().item():.6f}" for s in model.spikes]
    print(f"forward (eval): mean {1e3 * np.mean(fwd):.1f} ms (min {1e3 * min(fwd):.1f}) per batch; "
          f"layer output densities {' '.join(densities)}")
    sys.stdout.flush()

    step, step_cpu, phases = [], [], {"forward": [], "loss": [], "backward": [], "update": []}
    loss = None
    for it in range(args.warmup + args.iters):
        t0, c0 = time.perf_counter(), cpu_s()
        opt.zero_grad(set_to_none=False)
        out = model(x)
        t1 = time.perf_counter()
        loss, counts = num_spikes_loss(model, out, labels, true_count, false_count)
        correct = (counts.argmax(1) == labels).sum().item()
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if it >= args.warmup:
            step.append(t4 - t0)
            step_cpu.append(cpu_s() - c0)
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[k].append(v)
    print(f"train step: mean {1e3 * np.mean(step):.1f} ms (min {1e3 * min(step):.1f}) per batch: "
          + ", ".join(f"{k} {1e3 * np.mean(v):.1f} ms" for k, v in phases.items())
          + f"; last loss {loss.item():.4g}, {correct}/{args.batch} correct")
    print_results(args.batch, fwd, fwd_cpu, step, step_cpu)


# A small network for the same-math check against `slayer inspect`.
CHECK_ARCH, CHECK_STEPS, CHECK_DENSITY, CHECK_LABEL = "6x6x2-24-16-4", 60, 0.15, 2


def write_check(args):
    os.makedirs(args.write_check, exist_ok=True)
    inputs, sizes = parse_arch(CHECK_ARCH, "slayer_torch.py")
    model = SlayerMlp(inputs, sizes, CHECK_STEPS, 1.0, args.seed, weight_scale=20.0)
    arrays = {f"fc{i + 1}/weight": w.detach().numpy() for i, w in enumerate(model.weights)}
    np.savez(os.path.join(args.write_check, "params.npz"), **arrays)
    gen = torch.Generator().manual_seed(args.seed + 1)
    x = (torch.rand(2, 6, 6, CHECK_STEPS, generator=gen) < CHECK_DENSITY).float()
    np.save(os.path.join(args.write_check, "input.npy"), x.numpy())
    with open(os.path.join(args.write_check, "model.pbtxt"), "w") as f:
        f.write(f'simulation {{ ts_ms: 1 sample_ms: {CHECK_STEPS} }}\narch: "{CHECK_ARCH}"\n')
    print(f"wrote {args.write_check}/model.pbtxt, params.npz, input.npy; next: slayer inspect "
          f"--loss num_spikes --label {CHECK_LABEL} --true_count 20 --false_count 4")


def check(args):
    d = args.check
    inputs, sizes = parse_arch(CHECK_ARCH, "slayer_torch.py")
    model = SlayerMlp(inputs, sizes, CHECK_STEPS, 1.0, args.seed)
    params = np.load(os.path.join(d, "params.npz"))
    with torch.no_grad():
        for i, w in enumerate(model.weights):
            w.copy_(torch.from_numpy(params[f"fc{i + 1}/weight"]))
    x = torch.from_numpy(np.load(os.path.join(d, "input.npy"))).reshape(1, inputs, CHECK_STEPS)
    out = model(x, keep=True)
    loss, _ = num_spikes_loss(model, out, torch.tensor([CHECK_LABEL]), 20.0, 4.0)
    loss.backward()
    ref = np.load(os.path.join(d, "out.npz"))
    worst = 0.0
    failures = []
    for i, s in enumerate(model.spikes):
        name = f"fc{i + 1}"
        ours = ref[f"spikes/{name}"].reshape(s.shape[1:])
        mismatches = int((ours != s[0].detach().numpy()).sum())
        spikes = int((ours != 0).sum())
        print(f"  {name}: {spikes} spikes in slayer-cpp, {mismatches} differ")
        if mismatches:
            failures.append(f"{name} spikes differ in {mismatches} places")
        g_ref = ref[f"grad/{name}/weight"]
        g = model.weights[i].grad.numpy()
        err = float(np.abs(g - g_ref).max() / max(1e-12, np.abs(g_ref).max()))
        worst = max(worst, err)
        print(f"  {name}: weight gradient max |diff| / max |ref| = {err:.2e}")
    loss_ref = float(ref["loss"])
    print(f"  loss {loss.item():.6g} (slayer-cpp {loss_ref:.6g})")
    if abs(loss.item() - loss_ref) > 1e-4 * max(1.0, abs(loss_ref)):
        failures.append("loss differs")
    if worst > 1e-3:
        failures.append(f"weight gradients differ (relative {worst:.2e})")
    if not any(int((ref[f"spikes/fc{i + 1}"] != 0).sum()) for i in range(len(sizes))):
        failures.append("no spikes at all: the check proves nothing")
    if failures:
        raise SystemExit("same-math check FAILED: " + "; ".join(failures))
    print("same-math check passed: identical spikes, equal loss and weight gradients")


def main():
    p = bench_parser(__doc__)
    p.add_argument("--ts_ms", type=float, default=1.0)
    p.add_argument("--write-check", metavar="DIR", help="write a model, parameters and input")
    p.add_argument("--check", metavar="DIR", help="compare with DIR/out.npz of slayer inspect")
    args = parse_checked(p)
    if args.write_check:
        write_check(args)
    elif args.check:
        check(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
