"""An snnTorch network of the same size as `slayer bench`'s MLP, for the same
batch, steps and input: Linear -> Leaky per layer (beta 0.9, threshold 1,
fast_sigmoid surrogate), stepped through time in a Python loop as snnTorch's
tutorials do, mse_count_loss with SLAYER's target counts (60 and 10 per 300
steps as rates), Adam. Not the same math as SLAYER (no SRM kernels, no
refractory kernel): the comparison is of a popular framework on the same
work size.

  python snntorch_mlp.py --arch 34x34x2-512-512-10 --steps 300 --batch 32 \
      --input-density 0.01 --threads 2 --iters 3 --warmup 1
  # prints forward_samples_per_s=, train_samples_per_s=, peak_rss_mb=
"""

import sys
import time

import numpy as np
import snntorch as snn
import snntorch.functional as SF
import torch
from snntorch import surrogate

from peer_common import bench_parser, parse_arch, parse_checked, print_results


class Mlp(torch.nn.Module):
    def __init__(self, inputs, sizes, beta=0.9):
        super().__init__()
        grad = surrogate.fast_sigmoid(slope=25)
        self.fcs = torch.nn.ModuleList()
        self.lifs = torch.nn.ModuleList()
        for out in sizes:
            self.fcs.append(torch.nn.Linear(inputs, out, bias=False))
            self.lifs.append(snn.Leaky(beta=beta, spike_grad=grad))
            inputs = out

    def forward(self, x):
        """x: [T, N, I] -> output spikes [T, N, O]."""
        mems = [lif.init_leaky() for lif in self.lifs]
        out = []
        for t in range(x.shape[0]):
            s = x[t]
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                s, mems[i] = lif(fc(s), mems[i])
            out.append(s)
        return torch.stack(out)


def main():
    args = parse_checked(bench_parser(__doc__))
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    inputs, sizes = parse_arch(args.arch, "snntorch_mlp.py")
    model = Mlp(inputs, sizes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = SF.mse_count_loss(correct_rate=0.2, incorrect_rate=10.0 / 300.0)
    x = (torch.rand(args.steps, args.batch, inputs) < args.input_density).float()
    labels = torch.randint(0, sizes[-1], (args.batch,))
    print(f"snntorch_mlp: snnTorch {snn.__version__}, PyTorch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), arch {args.arch}, T {args.steps}, "
          f"batch {args.batch}")
    sys.stdout.flush()

    fwd, fwd_cpu = [], []
    with torch.no_grad():
        for it in range(args.warmup + args.iters):
            t0, c0 = time.perf_counter(), time.process_time()
            model(x)
            if it >= args.warmup:
                fwd.append(time.perf_counter() - t0)
                fwd_cpu.append(time.process_time() - c0)
    step, step_cpu = [], []
    loss = None
    for it in range(args.warmup + args.iters):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        out = model(x)
        loss = loss_fn(out, labels)
        loss.backward()
        opt.step()
        if it >= args.warmup:
            step.append(time.perf_counter() - t0)
            step_cpu.append(time.process_time() - c0)
    print(f"forward (eval): mean {1e3 * np.mean(fwd):.1f} ms per batch; train step: mean "
          f"{1e3 * np.mean(step):.1f} ms per batch; last loss {loss.item():.4g}")
    print_results(args.batch, fwd, fwd_cpu, step, step_cpu)


if __name__ == "__main__":
    main()
