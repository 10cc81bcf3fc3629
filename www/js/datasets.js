// Datasets for the page: the bundled MNIST and Fashion-MNIST files the site serves, or the
// user's own IDX files or CIFAR-10 binary batches. Files are fetched and gunzipped in a
// worker (inflate-worker.js), off the main thread; a loaded source opens into the module's
// datasets for a run, whose parsers check everything else.

import { message } from "./format.js";

const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
const CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

const BUNDLED = {
  mnist: { title: "MNIST", classNames: DIGITS },
  "fashion-mnist": { title: "Fashion-MNIST", classNames: FASHION },
};

/** A file the page cannot use; `message` says which and why. */
export class DataFileError extends Error {}

let worker = null;
let nextId = 0;
const pending = new Map();

/** Runs one job on the inflate worker: `{name, url}` or `{name, bytes}`, resolving to the raw bytes. */
function inflate(job) {
  if (!worker) {
    worker = new Worker(new URL("./inflate-worker.js", import.meta.url), { type: "module" });
    worker.addEventListener("message", ({ data }) => {
      const { resolve, reject } = pending.get(data.id);
      pending.delete(data.id);
      if (data.error) reject(new DataFileError(data.error));
      else resolve(data.bytes);
    });
  }
  const id = nextId;
  nextId += 1;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, ...job }, job.bytes ? [job.bytes.buffer] : []);
  });
}

function parse(label, fn) {
  try {
    return fn();
  } catch (e) {
    throw new DataFileError(`${label}: ${message(e)}`);
  }
}

/**
 * Four IDX files' bytes (raw), opened into datasets on demand: only the images a run uses
 * are copied into the module, so a subset of a large file costs little main-thread time.
 */
class IdxSource {
  constructor(title, classNames, files) {
    this.title = title;
    this.classNames = classNames;
    this.files = files;
  }

  /** `{title, classNames, train, test}` with the first `trainLimit` / `testLimit` images (0: all). */
  open(wasm, trainLimit, testLimit) {
    const set = (split, limit) => {
      const images = this.files[`${split} images`];
      const labels = this.files[`${split} labels`];
      return parse(`${images.name} and ${labels.name}`, () => wasm.WebDataset.fromIdx(images.bytes, labels.bytes, limit));
    };
    const train = set("train", trainLimit);
    const test = set("test", testLimit);
    checkSameShape(train, test);
    return { title: this.title, classNames: this.classNames, train, test };
  }
}

/** The bundled dataset `key` ("mnist" or "fashion-mnist"), fetched and decompressed. */
export async function loadBundled(key) {
  const info = BUNDLED[key];
  const file = async (role, prefix, kind) => {
    const name = `data/${key}/${prefix}-${kind}-idx${kind === "images" ? 3 : 1}-ubyte.gz`;
    return [role, { name, bytes: await inflate({ name, url: new URL(name, document.baseURI).href }) }];
  };
  const files = Object.fromEntries(await Promise.all([
    file("train images", "train", "images"),
    file("train labels", "train", "labels"),
    file("test images", "t10k", "images"),
    file("test labels", "t10k", "labels"),
  ]));
  return new IdxSource(info.title, info.classNames, files);
}

const IDX_IMAGES = 2051;
const IDX_LABELS = 2049;

function idxMagic(bytes) {
  return bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) : -1;
}

const isTestName = (name) => /t10k|test/i.test(name);

/**
 * The user's files: four IDX files (training and test images and labels, told apart by
 * their magic numbers and by "test"/"t10k" in the test files' names) or CIFAR-10 binary
 * batches (test_batch.bin is the test set, the others train).
 */
export async function loadFiles(files) {
  const list = [...files];
  if (list.length === 0) throw new DataFileError("choose the dataset's files first");
  const read = await Promise.all(list.map(async (f) => ({
    name: f.name,
    bytes: await inflate({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }),
  })));
  if (read.every((f) => f.name.toLowerCase().endsWith(".bin"))) return cifar(read);
  const role = (f) => {
    const magic = idxMagic(f.bytes);
    const kind = magic === IDX_IMAGES ? "images" : magic === IDX_LABELS ? "labels" : null;
    if (!kind) {
      throw new DataFileError(`${f.name} is neither an IDX image file (magic 2051) nor an IDX label file (magic 2049), `
        + "nor a CIFAR-10 .bin batch; choose MNIST-style IDX files (.gz or raw) or CIFAR-10 binary batches");
    }
    return `${isTestName(f.name) ? "test" : "train"} ${kind}`;
  };
  const byRole = {};
  for (const f of read) {
    const r = role(f);
    if (byRole[r]) throw new DataFileError(`both ${byRole[r].name} and ${f.name} look like the ${r}; choose one of each`);
    byRole[r] = f;
  }
  const missing = ["train images", "train labels", "test images", "test labels"].filter((r) => !byRole[r]);
  if (missing.length) {
    throw new DataFileError(`missing the ${missing.join(", ")} file${missing.length > 1 ? "s" : ""}: choose four IDX files `
      + "(test files are told apart by 'test' or 't10k' in their names)");
  }
  return new IdxSource("your IDX files", Array.from({ length: 10 }, (_, i) => String(i)), byRole);
}

function cifar(read) {
  const test = read.filter((f) => isTestName(f.name));
  const train = read.filter((f) => !isTestName(f.name));
  if (test.length === 0 || train.length === 0) {
    throw new DataFileError("CIFAR-10: choose the training batches (data_batch_1.bin …) and test_batch.bin together");
  }
  const set = (wasm, files) => parse(files.map((f) => f.name).join(", "),
    () => wasm.WebDataset.fromCifar10(files.map((f) => f.bytes)));
  // The whole batches are parsed; the run's image limits apply in the trainer.
  return {
    title: "your CIFAR-10 batches",
    classNames: CIFAR,
    open(wasm) {
      return { title: this.title, classNames: CIFAR, train: set(wasm, train), test: set(wasm, test) };
    },
  };
}

function checkSameShape(train, test) {
  const a = train.describe();
  const b = test.describe();
  if (a.channels !== b.channels || a.height !== b.height || a.width !== b.width) {
    throw new DataFileError(`the training images are ${a.channels}x${a.height}x${a.width} but the test images are `
      + `${b.channels}x${b.height}x${b.width}; choose files from one dataset`);
  }
}
