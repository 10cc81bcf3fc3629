// Keeps the latest comparison in the browser's IndexedDB while it runs, so a reload (or a
// crash of the tab) loses nothing: every run's curves, snapshots (with their test
// probabilities and weights), results and final weights. Written a moment after each change
// (at most every SAVE_INTERVAL_MS, and at once when a run's status changes); on opening, the
// page offers the kept comparison to see and export, and to go on training where it was
// when a run was cut off: each run's checkpoint (its training state after its last epoch)
// is kept under a second key, rewritten only when a new one is made.

const DATABASE = "snapfreeze";
const STORE = "comparisons";
const LATEST = "latest";
const CHECKPOINTS = "latest-checkpoints";
/** The test images of a comparison on the user's own files (the votes draw them), written once. */
const TEST_IMAGES = "latest-test-images";
/** A few lines about the kept comparison: what the page reads on opening (the whole
 * comparison can take long enough to read to block the page). */
const SUMMARY = "latest-summary";
const SAVE_INTERVAL_MS = 2000;

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `work(store)` in one transaction and resolves with the result of the request it
 * returns (or the results of the array of requests it returns). */
async function transact(mode, work) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const requests = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(Array.isArray(requests) ? requests.map((r) => r.result) : requests.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("the browser aborted the write"));
    });
  } finally {
    db.close();
  }
}

/** What of a run record is kept with the results: all but the live trainer's transient
 * fields and the checkpoint (kept apart, see `Saver.now`). */
function keep(record) {
  const { startedAt, checkpoint, ...rest } = record;
  return rest;
}

/** What the page offers on opening: {savedAt, dataset: {title, key}, runs: [{label, status,
 * checkpointEpoch}]}, or undefined. */
function summarize(value, checkpoints) {
  return {
    savedAt: value.savedAt,
    dataset: { title: value.dataset?.title, key: value.dataset?.key },
    runs: value.records.map((r, i) => ({ label: r.label, status: r.status, checkpointEpoch: checkpoints[i]?.epoch ?? null })),
  };
}

/** The kept comparison's summary (see `summarize`), or undefined. */
export async function loadSavedSummary() {
  const summary = await transact("readonly", (store) => store.get(SUMMARY));
  if (summary) return summary;
  // Kept by a page from before summaries: read it whole once.
  const saved = await loadSaved();
  return saved && summarize(saved, saved.records.map((r) => r.checkpoint));
}

/** The kept comparison with each run's checkpoint, or undefined. One read per key: the
 * browser decodes what a read returns on the main thread, and the comparison, the
 * checkpoints and the test images (megabytes each) decoded together made one task of up to
 * 90 ms on a loaded machine; apart, each is its own shorter task. The page reads them only
 * while no run writes. */
export async function loadSaved() {
  const read = (key) => transact("readonly", (store) => store.get(key));
  const saved = await read(LATEST);
  if (!saved) return undefined;
  const checkpoints = await read(CHECKPOINTS);
  const testImages = await read(TEST_IMAGES);
  saved.records.forEach((r, i) => { r.checkpoint = checkpoints?.[i] ?? null; });
  saved.testImages = testImages ?? null;
  return saved;
}

/** Forgets the kept comparison. */
export function forgetSaved() {
  return transact("readwrite", (store) => {
    store.delete(CHECKPOINTS);
    store.delete(TEST_IMAGES);
    store.delete(SUMMARY);
    return store.delete(LATEST);
  });
}

/**
 * Writes one comparison as it changes; `state()` gives {adapter, dataset, records}.
 * `testImages` ({shape, classNames, pixels}, or null for a bundled dataset, which can be
 * opened again) is written with the first save.
 */
export class Saver {
  constructor(state, onError, testImages) {
    this.state = state;
    this.onError = onError;
    this.testImages = testImages;
    this.imagesWritten = false;
    this.timer = null;
    this.writing = Promise.resolve();
    this.startedAt = new Date().toISOString();
    this.failed = false;
    /** The checkpoints last written, to write them again only when one changes. */
    this.checkpoints = null;
  }

  /** Saves soon; several calls within SAVE_INTERVAL_MS make one write. */
  soon() {
    if (this.timer) return;
    this.timer = setTimeout(() => this.now(), SAVE_INTERVAL_MS);
  }

  /** Saves now (after any write in progress); resolves when it is stored. */
  now() {
    clearTimeout(this.timer);
    this.timer = null;
    const { adapter, dataset, records } = this.state();
    const value = {
      savedAt: new Date().toISOString(),
      startedAt: this.startedAt,
      adapter,
      dataset,
      records: records.map(keep),
    };
    const checkpoints = records.map((r) => r.checkpoint ?? null);
    this.writing = this.writing
      .then(async () => {
        // What is new since the last write that went through (a failed one is retried).
        const changed = !this.checkpoints || checkpoints.some((c, i) => c !== this.checkpoints[i]);
        const images = !this.imagesWritten;
        await transact("readwrite", (store) => {
          if (changed) store.put(checkpoints, CHECKPOINTS);
          if (images && this.testImages) store.put(this.testImages, TEST_IMAGES);
          if (images && !this.testImages) store.delete(TEST_IMAGES);
          store.put(summarize(value, checkpoints), SUMMARY);
          return store.put(value, LATEST);
        });
        this.checkpoints = checkpoints;
        this.imagesWritten = true;
      })
      .catch((e) => {
        // Storage may be full, or refused (private windows): say so once, keep training.
        if (!this.failed) this.onError(e);
        this.failed = true;
      });
    return this.writing;
  }
}

/** The value kept under `key` outside the comparison (e.g. the kernel choices), or undefined. */
export async function loadValue(key) {
  return transact("readonly", (store) => store.get(key));
}

/** Keeps `value` under `key` outside the comparison. */
export async function keepValue(key, value) {
  await transact("readwrite", (store) => store.put(value, key));
}
