"""PyTorch on the same GPU as snapfreeze, as the anchor of scripts/bench-gpu.sh.

Trains the networks snapfreeze trains (src/nn/arch.rs), with the same batch and optimiser
(SGD, Nesterov momentum 0.9, weight decay 5e-4), on synthetic MNIST-shaped batches that already
sit on the GPU (snapfreeze gathers its batches on the GPU too, so loading is excluded on both
sides), and times cuBLAS on square products. Eager mode, cuDNN autotuning on, strict fp32 by
default (TF32 rows are labelled). Prints one JSON object per line.

Usage: python3 bench/torch_anchor.py [gemm|train|all]
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def emit(**fields):
    print(json.dumps(fields), flush=True)


def small_cnn(width):
    """Two conv-BN-ReLU-maxpool units (width, 2 x width), then a linear classifier."""
    layers, channels = [], 1
    for out in (width, 2 * width):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                   nn.ReLU(), nn.MaxPool2d(2)]
        channels = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 7 * 7, 10))


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the shortcut, then ReLU. Where the shape changes, the
    shortcut takes every second pixel and zero-pads the new channels (He et al.'s option A)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x
        if self.stride > 1:
            short = short[:, :, ::self.stride, ::self.stride]
        if self.extra:
            half = self.extra // 2
            short = F.pad(short, (0, 0, 0, 0, half, self.extra - half))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    """ResNet-20/32/...: a 3x3 stem of 16 channels, three stages of (depth - 2) / 6 blocks at
    16, 32, 64 channels, global average pooling, linear."""

    def __init__(self, depth):
        super().__init__()
        per_stage = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU())
        blocks, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for i in range(per_stage):
                blocks.append(BasicBlock(cin, cout, 2 if stage and i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def train_rate(name, model, batch, steps, tf32=False):
    """Best of three timed windows of `steps` training steps, in images per second."""
    set_tf32(tf32)
    torch.backends.cudnn.benchmark = True
    model = model.cuda()
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    images = torch.randn(batch, 1, 28, 28, device="cuda")
    labels = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        sgd.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        sgd.step()

    for _ in range(20):  # warm-up: cuDNN's algorithm search, allocator
        step()
    torch.cuda.synchronize()
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        rates.append(steps * batch / (time.perf_counter() - start))
    emit(anchor="pytorch-eager", model=name, batch=batch, tf32=tf32,
         img_per_s=round(max(rates), 1), spread=round(max(rates) / min(rates) - 1, 3),
         torch=torch.__version__)


def gemm_rate(n, tf32=False):
    set_tf32(tf32)
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    reps = max(3, int(2e12 / (2 * n ** 3)))
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    gflops = 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9
    emit(anchor="cublas", n=n, tf32=tf32, gflops=round(gflops, 1))


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what not in ("gemm", "train", "all"):
        sys.exit(f"unknown part {what!r}: use gemm, train or all")
    if not torch.cuda.is_available():
        sys.exit("PyTorch sees no CUDA device")
    emit(gpu=torch.cuda.get_device_name(0), torch=torch.__version__)
    if what in ("gemm", "all"):
        for n in (1024, 4096):
            gemm_rate(n)
    if what in ("train", "all"):
        for batch in (64, 128):
            train_rate("small-w32", small_cnn(32), batch, 200)
            train_rate("resnet20", CifarResNet(20), batch, 100)


if __name__ == "__main__":
    main()
