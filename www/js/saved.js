// Keeps the latest comparison in the browser's IndexedDB while it runs, so a reload (or a
// crash of the tab) loses nothing: every run's curves, snapshots (with their test
// probabilities and weights), results and final weights. Written a moment after each change
// (at most every SAVE_INTERVAL_MS, and at once when a run's status changes); on opening, the
// page offers the kept comparison to see and export.

const DATABASE = "snapfreeze";
const STORE = "comparisons";
const LATEST = "latest";
const SAVE_INTERVAL_MS = 2000;

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `work(store)` in one transaction and resolves with its request's result. */
async function transact(mode, work) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("the browser aborted the write"));
    });
  } finally {
    db.close();
  }
}

/** What of a run record is kept: everything but the live trainer's transient fields. */
function keep(record) {
  const { startedAt, ...rest } = record;
  return rest;
}

/** The kept comparison, or undefined. */
export function loadSaved() {
  return transact("readonly", (store) => store.get(LATEST));
}

/** Forgets the kept comparison. */
export function forgetSaved() {
  return transact("readwrite", (store) => store.delete(LATEST));
}

/** Writes one comparison as it changes; `state()` gives {adapter, dataset, records}. */
export class Saver {
  constructor(state, onError) {
    this.state = state;
    this.onError = onError;
    this.timer = null;
    this.writing = Promise.resolve();
    this.startedAt = new Date().toISOString();
    this.failed = false;
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
    this.writing = this.writing
      .then(() => transact("readwrite", (store) => store.put(value, LATEST)))
      .catch((e) => {
        // Storage may be full, or refused (private windows): say so once, keep training.
        if (!this.failed) this.onError(e);
        this.failed = true;
      });
    return this.writing;
  }
}
