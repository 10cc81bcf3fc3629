#!/usr/bin/env python3
"""Writes the seed files of the parser fuzz tests (tests/fuzz.rs) into tests/corpus/.

Each target has its own folder; every file there is one input. IDX inputs hold both files
of a pair: a 4-byte little-endian length of the image file, the image file, then the label
file. Regressions found by the fuzz tests are added beside the seeds by hand, named after
what they caught. The training-state target's seed is made by the fuzz test itself with the
crate's own encoder (its history is the crate's JSON); its folder holds a state that is
really a weights checkpoint, which must be refused.
"""
import gzip
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def idx_pair(images, labels):
    return struct.pack("<I", len(images)) + images + labels


def idx_images(n, h, w):
    pixels = bytes((i * 37) % 256 for i in range(n * h * w))
    return struct.pack(">IIII", 0x803, n, h, w) + pixels


def idx_labels(n, classes=10):
    return struct.pack(">II", 0x801, n) + bytes(i % classes for i in range(n))


write("idx", "valid-3x4x5", idx_pair(idx_images(3, 4, 5), idx_labels(3)))
write("idx", "valid-gzip-2x28x28", idx_pair(gzip.compress(idx_images(2, 28, 28), mtime=0), gzip.compress(idx_labels(2), mtime=0)))
write("idx", "valid-1x1x1", idx_pair(idx_images(1, 1, 1), idx_labels(1)))

record = lambda label: bytes([label]) + bytes((label * 7 + i) % 256 for i in range(3072))
write("cifar", "valid-2-records", record(3) + record(9))
write("cifar", "valid-1-record", record(0))


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


f32 = lambda values: struct.pack(f"<{len(values)}f", *values)
write("safetensors", "valid-two-tensors", safetensors([
    ("conv1.weight", "F32", [2, 1, 3, 3], f32([i / 10 for i in range(18)])),
    ("conv1.bias", "F32", [2], f32([0.5, -0.5])),
], {"model": "small-w2"}))
write("safetensors", "valid-with-counter", safetensors([
    ("bn1.weight", "F32", [4], f32([1, 1, 1, 1])),
    ("bn1.num_batches_tracked", "I64", [], struct.pack("<q", 12)),
]))
write("safetensors", "valid-empty", safetensors([]))
# A weights checkpoint offered as a training state: parsed, and refused as not one.
write("state", "weights-not-state", safetensors([
    ("params", "F32", [10], f32([0.0] * 10)),
], {"model": "small-w2"}))
