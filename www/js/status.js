// A run's statuses and what each means, defined once for the runner, the views, the saved
// comparisons and the exports.

/** Every status a run record can have. */
export const STATUS = Object.freeze({
  /** Not started yet. */
  waiting: "waiting",
  /** Its model and data are being built on the GPU. */
  starting: "starting",
  running: "running",
  paused: "paused",
  /** The device was lost under it; it waits for the user to go on on a new device. */
  interrupted: "interrupted",
  /** A step diverged; it waits for the user (resume lower) or was given up. */
  diverged: "diverged",
  /** A reload or a crash of the tab stopped it (as a kept comparison shows it); it can go
   * on from its last checkpoint. */
  cutOff: "cut off",
  /** The user stopped it; it keeps its last checkpoint. */
  stopped: "stopped",
  failed: "failed",
  /** The comparison ended before its turn. */
  skipped: "skipped",
  /** Every iteration ran. */
  done: "done",
});

/** Whether the run is under way now: it holds the GPU (starting, running) or is paused. */
export const isActive = (status) => [STATUS.starting, STATUS.running, STATUS.paused].includes(status);

/** Whether a kept run was cut off by a reload or a crash of the tab and can go on. */
export const isCutOff = (status) =>
  isActive(status) || [STATUS.cutOff, STATUS.interrupted, STATUS.waiting].includes(status);

/** Whether the run will train no further in this comparison. */
export const isSettled = (status) =>
  [STATUS.done, STATUS.stopped, STATUS.failed, STATUS.diverged, STATUS.skipped].includes(status);
