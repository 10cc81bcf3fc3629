"""The ratio table of scripts/bench-gpu.sh: ours beside PyTorch on the same card.

Reads the JSON the script wrote into one folder (train runs, bench-matmul, the PyTorch anchor's
JSON lines) and prints a Markdown table with what is there; a missing file leaves its cells
empty. Also prints where a ResNet-20 step's GPU time goes and the issue's aims beside them.

Usage: python3 bench/gpu_report.py FOLDER
"""
import json
import os
import sys


def load(folder, name):
    try:
        with open(os.path.join(folder, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_lines(folder, name):
    rows = []
    try:
        with open(os.path.join(folder, name)) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return rows


def fmt(value, digits=0):
    return "" if value is None else f"{value:,.{digits}f}"


def ratio(ours, theirs):
    return "" if ours is None or not theirs else f"{ours / theirs:.2f}"


def weight_grad_share(run):
    """Fraction of the profiled GPU time spent in the conv weight gradient (with its sum)."""
    profile = (run or {}).get("kernel_profile") or {}
    kernels = profile.get("kernels") or []
    total = sum(k["ms"] for k in kernels)
    wgrad = sum(k["ms"] for k in kernels if k["kernel"].startswith("conv2d_weight_grad"))
    return wgrad / total if total else None


def measured_share(run, prefix):
    """The --time-share measurement of `prefix` in a train run's JSON, if it was taken."""
    for share in (run or {}).get("kernel_shares") or []:
        if share.get("kernels") == prefix:
            return share
    return None


def spread(s):
    return f"{100 * s['median']:.1f}% ({100 * s['low']:.1f}-{100 * s['high']:.1f}%)"


def spread_ms(s):
    """Per-step milliseconds: the mean, the median and the range."""
    return (f"{s['mean']:.3f} ms mean (median {s['median']:.3f}, "
            f"{s['low']:.3f}-{s['high']:.3f})")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = sys.argv[1]
    torch_rows = load_lines(folder, "torch-train.jsonl")
    cublas = {r["n"]: r["gflops"] for r in load_lines(folder, "torch-gemm.jsonl")
              if r.get("anchor") == "cublas" and not r.get("tf32")}

    def torch_rate(model, batch):
        for r in torch_rows:
            if r.get("model") == model and r.get("batch") == batch and not r.get("tf32"):
                return r["img_per_s"]
        return None

    info = load(folder, "info.json") or {}
    print(f"\nadapter: {info.get('name', '?')} ({info.get('backend', '?')}, "
          f"{info.get('device_type', '?')}), driver {info.get('driver', '?')}")
    print("\n| | ours, images/s | PyTorch eager fp32 | ours / PyTorch |")
    print("| --- | --- | --- | --- |")
    runs = [("small CNN w32, MNIST, batch 64", "small-b64.json", "small-w32", 64),
            ("small CNN w32, MNIST, batch 128", "small-b128.json", "small-w32", 128),
            ("ResNet-20, Fashion-MNIST, batch 64", "resnet20-b64.json", "resnet20", 64),
            ("ResNet-20, Fashion-MNIST, batch 128", "resnet20-b128.json", "resnet20", 128),
            ("ResNet-20, batch 128, run again (no profile)", "resnet20-b128-again.json",
             "resnet20", 128)]
    rates = {}
    for label, file, model, batch in runs:
        run = load(folder, file)
        ours = run.get("images_per_second") if run else None
        rates[file] = ours
        theirs = torch_rate(model, batch)
        print(f"| {label} | {fmt(ours)} | {fmt(theirs)} | {ratio(ours, theirs)} |")
    for n in (1024, 4096):
        mm = load(folder, f"matmul-{n}.json")
        ours = mm.get("gflops") if mm else None
        kernels = ", ".join(f"{k} {fmt(g)}" for k, g in (mm or {}).get("by_kernel") or [])
        label = f"matmul {n}^3, GFLOP/s" + (f" ({kernels})" if kernels else "")
        print(f"| {label} | {fmt(ours)} | cuBLAS {fmt(cublas.get(n))} | "
              f"{ratio(ours, cublas.get(n))} |")

    print("\nThe CPU's time to record a step and to submit it, beside the step (on a GPU, "
          "together near the step's time: the GPU waits on the CPU):")
    for label, file, _, batch in runs:
        run = load(folder, file) or {}
        summary = run.get("summary") or {}
        record, submit = summary.get("record_ms"), summary.get("submit_ms")
        rate = run.get("images_per_second")
        if record and submit and rate:
            step_ms = 1e3 * batch / rate
            print(f"- {label}: record {spread_ms(record)}, submit {spread_ms(submit)}, "
                  f"of {step_ms:.3f} ms per step")

    print("\nWhere the GPU time of a profiled training step goes (top kernels):")
    for file in ("resnet20-b128.json", "small-b128.json"):
        run = load(folder, file)
        kernels = ((run or {}).get("kernel_profile") or {}).get("kernels") or []
        total = sum(k["ms"] for k in kernels)
        if not total:
            continue
        top = ", ".join(f"{k['kernel']} {100 * k['ms'] / total:.1f}%" for k in kernels[:6])
        print(f"- {file}: {top}")
        for field, what in (("forward_algorithms", "forward"),
                            ("input_grad_kernels", "input-gradient"),
                            ("weight_grad_kernels", "weight-gradient")):
            chosen = [line.rsplit(": ", 1)[-1] for line in run.get(field) or []]
            if chosen:
                counts = ", ".join(f"{k} x{chosen.count(k)}" for k in sorted(set(chosen)))
                print(f"  {what} kernels chosen per layer shape: {counts}")

    print("\nShares of a full step measured by difference (--time-share: the step timed without "
          "the kernels, and with each launch twice):")
    for file in ("resnet20-b128.json", "small-b128.json"):
        run = load(folder, file)
        for share in (run or {}).get("kernel_shares") or []:
            print(f"- {file}: {share['kernels']}* ({share['launches']} launches, "
                  f"step {share['step_ms']:.3f} ms): left out {spread(share['removed'])}, "
                  f"twice {spread(share['doubled'])}")

    if info.get("device_type") not in ("DiscreteGpu", "IntegratedGpu"):
        print("\nNo aims: the figures above are a software adapter's, not a GPU's.")
        return
    share = weight_grad_share(load(folder, "resnet20-b128.json"))
    aims = [("ResNet-20 batch 128, images/s", rates.get("resnet20-b128.json"), 10_000),
            ("small CNN batch 128, images/s", rates.get("small-b128.json"), 40_000)]
    print("\nAims:")
    for label, value, aim in aims:
        verdict = "n/a" if value is None else ("met" if value >= aim else "not met")
        print(f"- {label} >= {aim:,}: {fmt(value)} ({verdict})")
    # By difference where measured (the whole step's time, no timestamps); the timestamp
    # profile's share beside it.
    measured = measured_share(load(folder, "resnet20-b128.json"), "conv2d_weight_grad")
    if measured is not None:
        left_out, twice = measured["removed"]["median"], measured["doubled"]["median"]
        verdict = "met" if left_out < 0.25 else "not met"
        if (left_out < 0.25) != (twice < 0.25):
            verdict += ", but run twice it reads the other side"
        profiled = "" if share is None else f"; profile {100 * share:.1f}%"
        print(f"- weight gradient < 25% of a ResNet-20 step: {100 * left_out:.1f}% left out, "
              f"{100 * twice:.1f}% run twice{profiled} ({verdict})")
    elif share is not None:
        verdict = "met" if share < 0.25 else "not met"
        print(f"- weight gradient < 25% of a ResNet-20 step: {100 * share:.1f}% by the profile "
              f"({verdict})")
    for n in (1024, 4096):
        mm = load(folder, f"matmul-{n}.json")
        if mm and cublas.get(n):
            part = mm["gflops"] / cublas[n]
            verdict = "met" if part >= 0.5 else "not met"
            print(f"- matmul {n} >= 50% of cuBLAS: {100 * part:.0f}% ({verdict})")


if __name__ == "__main__":
    main()
