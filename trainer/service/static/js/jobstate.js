// One job as the page knows it, merged from its record (GET /jobs/{id}) and its events, whatever their order.
//
// A record fetched while events stream in can be older or newer than the events around it, and a
// replayed event can be one the record already counts. So each part only moves forward: the status by
// (attempt, stage), the epoch by its number. Applying anything twice, or late, changes nothing.

export const FINISHED = new Set(["completed", "cancelled", "failed"]);
const STAGE = { queued: 0, running: 1, completed: 2, cancelled: 2, failed: 2 };

function later(attempt, status, than) {
  if (than === null) return true;
  if (attempt !== than.attempt) return attempt > than.attempt;
  return (STAGE[status] ?? 0) >= (STAGE[than.status] ?? 0);
}

export class JobState {
  constructor(id) {
    this.id = id;
    this.record = null; // the latest record fetched: name, template, params, worker, epochs, times
    this.phase = null; // {attempt, status}
    this.error = null;
    this.epoch = null; // the last epoch ended, 0-based
    this.logs = {};
  }

  get status() {
    return this.phase?.status ?? null;
  }

  get attempts() {
    return Math.max(this.phase?.attempt ?? 0, this.record?.attempts ?? 0);
  }

  applyRecord(record) {
    this.record = record;
    this.advance(record.attempts, record.status, record.error);
    this.ended(record.epoch, record.logs);
  }

  /** An SSE record of this job; true if it is one the page shows. */
  applyEvent(event) {
    if (event.event === "JobStatusChanged") {
      this.advance(event.attempt, event.status, event.error);
      return true;
    }
    if (event.event === "EpochEnd") {
      this.ended(event.epoch, event.logs);
      return true;
    }
    return false;
  }

  advance(attempt, status, error) {
    if (!later(attempt, status, this.phase)) return;
    this.phase = { attempt, status };
    this.error = error ?? null;
  }

  ended(epoch, logs) {
    if (epoch === null || epoch === undefined) return;
    if (this.epoch !== null && epoch < this.epoch) return;
    this.epoch = epoch;
    this.logs = logs ?? {};
  }
}
