// The TensorFlow.js side of the speed benchmark: the same networks as snapfreeze's `small`
// CNN and ResNet-20 written in tfjs-core ops (NHWC, TensorFlow.js's own layout), trained
// with the same SGD (momentum 0.9, Nesterov, no weight decay) on the same MNIST images at
// the same batch, and a 1024^3 matmul. The driver calls window.tfBench.* and compares.

const tf = window.tf;
tf.wasm.setWasmPaths("/node_modules/@tensorflow/tfjs-backend-wasm/dist/");

/** The first `count` MNIST training images, normalised with their own mean and std like
 * snapfreeze's gather, and their labels. */
async function mnist(count) {
  const raw = async (path) => {
    const bytes = new Uint8Array(await (await fetch(path)).arrayBuffer());
    if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  };
  const images = (await raw("/data/mnist/train-images-idx3-ubyte.gz")).subarray(16, 16 + count * 784);
  const labels = (await raw("/data/mnist/train-labels-idx1-ubyte.gz")).subarray(8, 8 + count);
  let sum = 0;
  let squares = 0;
  for (const p of images) { sum += p / 255; squares += (p / 255) ** 2; }
  const mean = sum / images.length;
  const std = Math.sqrt(squares / images.length - mean * mean);
  return { x: Float32Array.from(images, (p) => (p / 255 - mean) / std), y: Int32Array.from(labels) };
}

const he = (shape, fanIn) => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn)));
const conv = (k, cin, cout) => he([k, k, cin, cout], k * k * cin);

function norm(c) {
  return {
    gamma: tf.variable(tf.ones([c])),
    beta: tf.variable(tf.zeros([c])),
    mean: tf.variable(tf.zeros([c]), false),
    variance: tf.variable(tf.ones([c]), false),
  };
}

/** Batch norm in training mode with PyTorch's running-statistics update (momentum 0.1). */
function batchNorm(x, p) {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  p.mean.assign(tf.add(tf.mul(p.mean, 0.9), tf.mul(mean, 0.1)));
  p.variance.assign(tf.add(tf.mul(p.variance, 0.9), tf.mul(variance, 0.1 * n / (n - 1))));
  return tf.batchNorm(x, mean, variance, p.beta, p.gamma, 1e-5);
}

function linear(inputs, outputs) {
  const bound = 1 / Math.sqrt(inputs);
  return { w: tf.variable(tf.randomUniform([inputs, outputs], -bound, bound)), b: tf.variable(tf.randomUniform([outputs], -bound, bound)) };
}

/** snapfreeze's `small` CNN: two conv(3x3)-BN-ReLU-maxpool units, then a linear layer on
 * the flattened maps. */
function smallCnn(width) {
  const p = {
    c1: conv(3, 1, width), b1: norm(width),
    c2: conv(3, width, 2 * width), b2: norm(2 * width),
    fc: linear(7 * 7 * 2 * width, 10),
  };
  const forward = (x) => {
    let h = tf.maxPool(tf.relu(batchNorm(tf.conv2d(x, p.c1, 1, 1), p.b1)), 2, 2, "valid");
    h = tf.maxPool(tf.relu(batchNorm(tf.conv2d(h, p.c2, 1, 1), p.b2)), 2, 2, "valid");
    return tf.add(tf.matMul(tf.reshape(h, [x.shape[0], -1]), p.fc.w), p.fc.b);
  };
  return forward;
}

/** A fixed 1x1 conv that picks channel c of the input into channel c + offset: the
 * option-A shortcut (subsample, zero-pad channels), computed the way snapfreeze does. */
function shortcutWeights(cin, cout) {
  const w = new Float32Array(cin * cout);
  const offset = (cout - cin) / 2;
  for (let c = 0; c < cin; c += 1) w[c * cout + c + offset] = 1;
  return tf.tensor4d(w, [1, 1, cin, cout]);
}

/** ResNet-20 (He et al. 2016) for 28x28 inputs: 3 stages of 3 basic blocks, widths 16,
 * 32, 64, option-A shortcuts, global average pooling, a linear layer. */
function resnet20() {
  const stem = { c: conv(3, 1, 16), b: norm(16) };
  const blocks = [];
  let cin = 16;
  for (let stage = 0; stage < 3; stage += 1) {
    const cout = 16 << stage;
    for (let i = 0; i < 3; i += 1) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      blocks.push({
        stride,
        c1: conv(3, cin, cout), b1: norm(cout),
        c2: conv(3, cout, cout), b2: norm(cout),
        shortcut: cin === cout ? null : shortcutWeights(cin, cout),
      });
      cin = cout;
    }
  }
  const fc = linear(64, 10);
  return (x) => {
    let h = tf.relu(batchNorm(tf.conv2d(x, stem.c, 1, 1), stem.b));
    for (const b of blocks) {
      const out = batchNorm(tf.conv2d(tf.relu(batchNorm(tf.conv2d(h, b.c1, b.stride, 1), b.b1)), b.c2, 1, 1), b.b2);
      const skip = b.shortcut ? tf.conv2d(h, b.shortcut, b.stride, 0) : h;
      h = tf.relu(tf.add(out, skip));
    }
    return tf.add(tf.matMul(tf.mean(h, [1, 2]), fc.w), fc.b);
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Trains `model` ("small" or "resnet20") on `backend` and times it: `warmup` steps, then
 * `windows` windows of `steps` steps, each ended by reading its losses back. Resolves to
 * images/s per window and their median, the losses, and TensorFlow.js's memory use, or to
 * {error} when the backend cannot run it.
 */
async function train({ backend, model, batch = 64, warmup = 3, windows = 3, steps = 5, lr = 0.01 }) {
  try {
    if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
    await tf.ready();
    const batches = 8;
    const data = await mnist(batch * batches);
    const xs = [];
    const ys = [];
    for (let k = 0; k < batches; k += 1) {
      xs.push(tf.tensor4d(data.x.subarray(k * batch * 784, (k + 1) * batch * 784), [batch, 28, 28, 1]));
      ys.push(tf.oneHot(tf.tensor1d(data.y.subarray(k * batch, (k + 1) * batch), "int32"), 10));
    }
    const forward = model === "small" ? smallCnn(16) : resnet20();
    const optimizer = tf.train.momentum(lr, 0.9, true);
    let step = 0;
    const stepOnce = () => {
      const k = step % batches;
      step += 1;
      return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys[k], forward(xs[k])), true);
    };
    const run = async (n) => {
      const costs = [];
      for (let i = 0; i < n; i += 1) costs.push(stepOnce());
      const stacked = tf.stack(costs);
      const losses = Array.from(await stacked.data());
      tf.dispose([...costs, stacked]);
      return losses;
    };
    const first = await run(warmup);
    const timed = [];
    let last = [];
    for (let w = 0; w < windows; w += 1) {
      const started = performance.now();
      last = await run(steps);
      timed.push((batch * steps) / ((performance.now() - started) / 1000));
    }
    const memory = tf.memory();
    tf.disposeVariables();
    tf.dispose([...xs, ...ys]);
    return {
      backend,
      model,
      batch,
      imagesPerSecond: median(timed),
      windows: timed,
      lossFirst: first,
      lossLast: last,
      tensors: memory.numTensors,
    };
  } catch (e) {
    tf.disposeVariables();
    return { backend, model, error: e.message ?? String(e) };
  }
}

/** `reps` 1024^3 (or `size`^3) matmuls after one warm-up, ended by one readback. */
async function matmul({ backend = "webgpu", size = 1024, reps = 3 }) {
  try {
    if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
    await tf.ready();
    const a = tf.randomNormal([size, size]);
    const b = tf.randomNormal([size, size]);
    const warm = tf.matMul(a, b);
    await warm.data();
    warm.dispose();
    const started = performance.now();
    const products = [];
    for (let r = 0; r < reps; r += 1) products.push(tf.matMul(a, b));
    await products[reps - 1].data();
    const seconds = (performance.now() - started) / 1000;
    tf.dispose([a, b, ...products]);
    return { backend, size, reps, gflops: (2 * size ** 3 * reps) / seconds / 1e9, seconds };
  } catch (e) {
    return { backend, size, error: e.message ?? String(e) };
  }
}

window.tfBench = { train, matmul, version: tf.version_core };
document.body.dataset.ready = "true";
