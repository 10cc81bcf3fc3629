// Trains the chosen methods one after another on one GPU session, with pause, resume and
// stop between GPU submissions. Everything a run produces (steps, epochs, snapshots with
// their test probabilities and weights, freezes, the summary) is copied into a plain
// record as it arrives, so a failure later (divergence, a lost device) loses nothing
// already finished. After each epoch the run's whole training state is kept too, so that
// after a lost device the run goes on from there on a new device.

// The loop itself is the module's (`TrainingRun.advance`): it runs to the next epoch end
// and says how the call ended (steps ran, epoch ended and the state is due, finished,
// diverged, device lost). This file only keeps the records, holds for the user's answers
// and times pauses.

import { message } from "./format.js";
import { STATUS, isCutOff } from "./status.js";

/**
 * Seconds a call into the module should take: the first call runs one step, later ones as
 * many as fit (the module paces them), so the first metrics show within seconds even on a
 * software adapter and the views update a few times a second on a GPU.
 */
const CALL_SECONDS = 0.4;

/**
 * Calls into the module's run loop so far and the most steps one of them ran: the
 * responsiveness test checks that training never runs more than the module's paced
 * maximum in one call, whatever the machine's load.
 */
export const callStats = { calls: 0, maxSteps: 0 };

/** Steps of forward-only timing after a baseline finishes (splits its step time). */
const FORWARD_TIMING_STEPS = 8;
/** Interleaved rounds FreezeOut's kinds of step are timed in after it finishes. */
const FREEZE_TIMING_ROUNDS = 5;

/** A record's fields that a fresh start of its run resets. */
function untrained() {
  return {
    model: null,
    schedule: null,
    iteration: 0,
    total: 0,
    stepsPerEpoch: 0,
    steps: [],
    epochs: [],
    snapshots: [],
    freezes: [],
    resumes: [],
    imagesPerSecond: null,
    summary: null,
    forwardSeconds: null,
    weights: null,
    /** The final model's class for every test image (Uint16Array), once it ended. */
    predictions: null,
    testLabels: null,
    startedAt: null,
    pausedSeconds: 0,
    wallSeconds: 0,
    /** The training state after the last finished epoch: {bytes, iteration, epoch}. */
    checkpoint: null,
  };
}

/**
 * Readies the records of a comparison kept from an earlier visit to go on: a run that was
 * cut off goes on from its checkpoint (or starts again without one), runs not yet started
 * wait their turn, and finished, stopped and failed runs stay as they are.
 */
export function continueRecords(records) {
  for (const r of records.filter((x) => isCutOff(x.status))) {
    // Only a run that had started was cut off (the later ones only waited their turn).
    if (r.status !== STATUS.waiting) r.goingOnAfter = "reload";
    r.status = STATUS.waiting;
    r.error = null;
  }
}

/** Whether a kept comparison has a run to go on with. */
export const canContinue = (records) => records.some((r) => isCutOff(r.status));

/** One fresh record per run of the settings. */
export function newRecords(runs) {
  return runs.map(newRecord);
}

function newRecord(run, index) {
  return {
    index,
    /** Weights the run starts from instead of the seeded ones: {name, bytes}, or null. */
    init: run.init ?? null,
    label: run.label,
    kind: run.kind,
    method: run.method,
    config: run.config,
    status: STATUS.waiting,
    error: null,
    /** Each time the run went on after a lost device: {lostAt, from} iterations. */
    recoveries: [],
    ...untrained(),
  };
}

/** Steps whose metrics came back: a lost device can take steps already submitted with it. */
const stepsRead = (record) => (record.steps.length ? record.steps.at(-1).iteration + 1 : 0);

/** How long a thrown failure waits for the browser to say the device was lost behind it
 * (the module's run loop waits itself and reports a lost device as an outcome). */
const LOST_GRACE_MS = 500;

/** The device-lost reason behind a failure, if the device was lost; waits briefly for it. */
async function lostReason(session) {
  const started = performance.now();
  while (performance.now() - started < LOST_GRACE_MS) {
    const reason = session.lostReason();
    if (reason !== undefined) return reason;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return session.lostReason();
}

/** One comparison: `records` (see `newRecords`) trained in order on `data`. */
export class Comparison {
  constructor(session, data, records, hooks) {
    this.session = session;
    this.data = data;
    this.hooks = hooks;
    this.records = records;
    this.paused = false;
    this.stopping = false;
    this.resume = null;
    this.decide = null;
    this.recover = null;
  }

  /**
   * After a lost device: resolves the waiting run with a new session to go on with (from
   * the run's last checkpoint, or from the start if it had none), or null (end here).
   */
  decideRecovery(session) {
    this.recover?.(session);
  }

  /**
   * After a divergence: resolves the waiting run with `factor` (resume with every learning
   * rate times it) or null (give the run up and go on with the next).
   */
  decideDivergence(factor) {
    this.decide?.(factor);
  }

  pause() {
    this.paused = true;
  }

  unpause() {
    this.paused = false;
    this.resume?.();
  }

  stop() {
    this.stopping = true;
    this.unpause();
    this.decideDivergence(null);
    this.decideRecovery(null);
  }

  /** Trains every record in turn; resolves when all are done, stopped or failed. */
  async run() {
    for (const record of this.records) {
      if (record.status !== STATUS.waiting) continue; // done in an earlier visit
      if (this.stopping) {
        record.status = STATUS.skipped;
        this.hooks.changed(record);
        continue;
      }
      let lost = await this.runOne(record);
      while (lost) {
        if (!(await this.offerRecovery(record))) {
          for (const r of this.records) if (r.status === STATUS.waiting) r.status = STATUS.skipped;
          return { deviceLost: true };
        }
        lost = await this.runOne(record);
      }
    }
    return { deviceLost: false };
  }

  /**
   * Holds `record` until the user answers what `ask(record)` asked: the answer comes through
   * `this[slot]` (see `decideDivergence`, `decideRecovery`); the wait counts as paused time.
   */
  async hold(record, slot, ask) {
    const waiting = performance.now();
    const answer = await new Promise((resolve) => {
      this[slot] = resolve;
      ask(record);
    });
    this[slot] = null;
    record.pausedSeconds += (performance.now() - waiting) / 1000;
    return answer;
  }

  /**
   * Holds the comparison after the device was lost under `record`'s run until the user
   * gives a new session to go on with (true) or ends the comparison (false).
   */
  async offerRecovery(record) {
    record.status = STATUS.interrupted;
    const session = await this.hold(record, "recover", this.hooks.lost);
    if (!session || this.stopping) {
      record.status = STATUS.failed;
      this.hooks.changed(record);
      return false;
    }
    this.session = session;
    record.error = null;
    return true;
  }

  /**
   * Puts `record` back where `run` (restored from the record's checkpoint) stands: what
   * came after the checkpoint is dropped, to be trained again.
   */
  rewind(record, run) {
    const p = run.progress();
    record.recoveries.push({ lostAt: stepsRead(record), from: p.iteration, cause: record.goingOnAfter ?? "device lost" });
    record.goingOnAfter = null;
    record.steps = run.steps(0);
    record.epochs = run.epochs();
    record.snapshots = record.snapshots.filter((s) => s.iteration < p.iteration);
    record.freezes = record.freezes.filter((f) => f.iteration < p.iteration);
    record.resumes = run.summary().resumes;
    record.iteration = p.iteration;
  }

  async waitWhilePaused(record) {
    if (!this.paused) return;
    record.status = STATUS.paused;
    this.hooks.changed(record);
    const started = performance.now();
    await new Promise((resolve) => { this.resume = resolve; });
    this.resume = null;
    record.pausedSeconds += (performance.now() - started) / 1000;
    record.status = STATUS.running;
    this.hooks.changed(record);
  }

  /** Trains one record; resolves to true if the device was lost. */
  async runOne(record) {
    record.status = STATUS.starting;
    this.hooks.changed(record);
    const from = record.checkpoint;
    const { train, test } = this.data;
    let run;
    try {
      run = from
        ? await this.session.restoreTraining(from.bytes, train, test)
        : await this.session.startTraining(record.config, train, test, record.init?.bytes);
    } catch (e) {
      return this.fail(record, e);
    }
    try {
      // Wall time goes on from where the run was (the lost work's time included).
      const spent = (record.wallSeconds + record.pausedSeconds) * 1000;
      if (from) {
        this.rewind(record, run);
      } else if (record.steps.length > 0) {
        // Lost before its first checkpoint: it starts again from nothing.
        record.recoveries.push({ lostAt: stepsRead(record), from: 0, cause: record.goingOnAfter ?? "device lost" });
        record.goingOnAfter = null;
        Object.assign(record, untrained());
      }
      record.model = run.model();
      record.schedule = run.scheduleTable(240);
      record.testLabels = run.testLabels();
      const p = run.progress();
      Object.assign(record, { iteration: p.iteration, total: p.total, stepsPerEpoch: p.stepsPerEpoch });
      record.status = STATUS.running;
      record.startedAt = performance.now() - (from ? spent : 0);
      this.hooks.started(record);
      if (from && record.snapshots.length > 0) this.hooks.snapshot(record);
      for (;;) {
        await this.waitWhilePaused(record);
        if (this.stopping) {
          record.status = STATUS.stopped;
          break;
        }
        const { outcome, state_due: stateDue, steps } = await run.advance({ seconds: CALL_SECONDS });
        callStats.calls += 1;
        callStats.maxSteps = Math.max(callStats.maxSteps, steps);
        await this.collect(record, run, stateDue);
        if (outcome.kind === "finished") break;
        if (outcome.kind === "device_lost") return this.lostUnder(record, run, outcome.message);
        // A divergence stops the trainer at the bad step with the last good weights: ask
        // whether to go on from there at a lower rate.
        if (outcome.kind === "diverged" && !(await this.offerResume(record, run, outcome.message))) {
          record.summary = run.summary();
          return this.settle(record, STATUS.diverged, outcome.message, { lost: false, diverged: true });
        }
      }
      // A stopped run keeps its weights as they are; a finished baseline also times its
      // forward pass, and a finished FreezeOut run its kinds of step in interleaved rounds
      // (its time saving), both of which need a finished run.
      if (record.status === STATUS.running && record.kind === "baseline") {
        record.forwardSeconds = await run.timeForwardPass(FORWARD_TIMING_STEPS);
      }
      if (record.status === STATUS.running && record.kind === "freezeout") {
        await run.timeFreezing(FREEZE_TIMING_ROUNDS);
      }
      record.summary = run.summary();
      record.weights = await run.checkpoint();
      // The final model's class for every test image: the per-class view reads it.
      record.predictions = await run.testPredictions();
      // A finished run needs no checkpoint; a stopped one keeps its last to go on from.
      if (record.status === STATUS.running) {
        record.status = STATUS.done;
        record.checkpoint = null;
      }
      this.hooks.changed(record);
      return false;
    } catch (e) {
      // The run's own results up to the failure stay: collect what the trainer recorded.
      try {
        await this.collect(record, run, false);
        record.summary = run.summary();
      } catch {
        // The trainer is unusable (device lost); the record keeps what it had.
      }
      return this.fail(record, e);
    } finally {
      run?.free();
    }
  }

  /**
   * Holds the comparison after `record`'s run diverged until the user resumes it (true:
   * the run goes on at the chosen fraction of its rates) or gives it up (false).
   */
  async offerResume(record, run, said) {
    record.status = STATUS.diverged;
    record.error = said;
    const factor = await this.hold(record, "decide", this.hooks.diverged);
    if (factor === null || this.stopping) return false;
    const iteration = run.progress().iteration;
    const lr = run.resume(factor);
    record.resumes.push({ iteration, factor, lr });
    record.error = null;
    record.status = STATUS.running;
    this.hooks.resumed(record);
    return true;
  }

  /** The device was lost under `record`'s run (the module said so): resolves to true. */
  lostUnder(record, run, said) {
    try {
      record.summary = run.summary();
    } catch {
      // Nothing more to read from a lost device's trainer.
    }
    this.session = null;
    return this.settle(record, STATUS.failed, said, { lost: true, diverged: false });
  }

  /** Records a thrown failure; resolves to true if the device was lost behind it. */
  async fail(record, error) {
    const reason = await lostReason(this.session);
    const lost = reason !== undefined;
    if (lost) this.session = null;
    const said = message(error);
    const text = lost && !said.startsWith("the GPU device was lost")
      ? `the GPU device was lost (${reason || "no reason given"}): ${said}` : said;
    return this.settle(record, STATUS.failed, text, { lost, diverged: false });
  }

  /** Ends `record` with `status` and `error`, tells the page; resolves to whether the device was lost. */
  settle(record, status, error, how) {
    record.status = status;
    record.error = error;
    this.hooks.failed(record, how);
    return how.lost;
  }

  /**
   * Copies new steps, epochs and events from the run into the record; when the module says
   * the training state is due (an epoch ended), keeps it as the record's checkpoint.
   */
  async collect(record, run, stateDue) {
    const steps = run.steps(record.steps.length);
    for (const s of steps) record.steps.push(s);
    record.epochs = run.epochs();
    const progress = run.progress();
    record.iteration = progress.iteration;
    record.wallSeconds = (performance.now() - record.startedAt) / 1000 - record.pausedSeconds;
    // Before the events: a snapshot's view shows the summary's diversity with it included.
    record.summary = run.summary();
    for (const event of run.takeEvents()) {
      if (event.kind === "steps") {
        record.imagesPerSecond = event.images_per_second;
      } else if (event.kind === "frozen") {
        record.freezes.push({ blocks: event.blocks, iteration: event.iteration });
      } else if (event.kind === "snapshot") {
        record.snapshots.push({
          index: event.index,
          iteration: event.iteration,
          test: event.test,
          ensemble: event.ensemble,
          probabilities: run.snapshotProbabilities(event.index),
          weights: await run.snapshotCheckpoint(event.index),
        });
        this.hooks.snapshot(record);
      }
    }
    if (stateDue) {
      record.checkpoint = { bytes: await run.saveState(), iteration: progress.iteration, epoch: record.epochs.length };
      // Kept at once: a reload just after an epoch ends goes on from that epoch.
      this.hooks.checkpointed(record);
    }
    this.hooks.progress(record);
  }
}
