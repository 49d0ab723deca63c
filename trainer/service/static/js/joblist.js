// The live job list: one GET /jobs when the page opens, then only the service-wide event stream.
//
// A job's row changes at its status changes and epochs. The few things events do not carry (the
// worker, the planned epochs, a new job's name) come from GET /jobs/{id} of that one job, asked when
// its status changes or its training begins: never the whole list again.

import { api, ApiError } from "./api.js";
import { el, formatLogs, frameScheduler } from "./dom.js";
import { Feed } from "./feed.js";
import { JobState } from "./jobstate.js";

const COLUMNS = ["name", "template", "status", "epoch", "logs", "attempts", "worker"];
const HEADINGS = ["Job", "Template", "Status", "Epoch", "Latest loss and metrics", "Attempts", "Worker"];

export class JobList {
  constructor(container, { current = null } = {}) {
    this.container = container;
    this.current = current; // the job whose page this is, highlighted
    this.jobs = new Map();
    this.rows = new Map(); // id -> {row, cells}
    this.dirty = new Set();
    this.fetching = new Map(); // id -> true if asked again while its fetch runs
    this.listed = false; // the first GET /jobs has answered
    this.unlisted = new Set(); // jobs seen in events before it did
    this.body = el("tbody");
    this.count = el("span", { class: "count" });
    this.feed = null;
    this.draw = frameScheduler(() => this.render());
  }

  async start() {
    this.container.append(
      el("h2", {}, "Jobs ", this.count),
      el("table", { class: "jobs", id: "jobs" },
        el("thead", {}, el("tr", {}, HEADINGS.map((heading) => el("th", {}, heading)))),
        this.body),
    );
    // The stream first, then the list: nothing that happens in between is missed (see JobState).
    this.feed = new Feed("/events", (record) => this.receive(record), { onReconnect: () => this.list().catch(() => {}) }).open();
    await this.list();
  }

  /** Every job's record, at the start, and after the stream dropped (the service may have restarted). */
  async list() {
    const jobs = [];
    for (;;) {
      // A page of at most 1000 at a time (the service's limit), until `total`.
      const answer = await api("GET", `/jobs?offset=${jobs.length}`);
      jobs.push(...answer.jobs);
      if (answer.jobs.length === 0 || !(jobs.length < answer.total)) break;
    }
    for (const record of jobs) this.state(record.id).applyRecord(record);
    const first = !this.listed;
    this.listed = true;
    for (const id of this.unlisted) if (!jobs.some((record) => record.id === id)) this.refresh(id);
    this.unlisted.clear();
    // Rows in submission order, then the jobs first seen in events (newer): each prepended, newest on top.
    if (first) this.dirty = new Set([...jobs.map((record) => record.id), ...this.dirty]);
    else for (const record of jobs) this.dirty.add(record.id);
    this.draw();
  }

  stop() {
    this.feed?.close();
  }

  state(id) {
    let state = this.jobs.get(id);
    if (state === undefined) {
      state = new JobState(id);
      this.jobs.set(id, state);
    }
    return state;
  }

  receive(event) {
    if (typeof event.run !== "string") return;
    const known = this.jobs.has(event.run);
    const shown = this.state(event.run).applyEvent(event);
    if (!known || event.event === "JobStatusChanged" || event.event === "TrainBegin") this.refresh(event.run);
    if (shown || !known) {
      this.dirty.add(event.run);
      this.draw();
    }
  }

  /** Fetch one job's record; at most one fetch per job at a time, and one more if asked meanwhile. */
  refresh(id) {
    if (!this.listed) {
      this.unlisted.add(id);
      return;
    }
    if (this.fetching.has(id)) {
      this.fetching.set(id, true);
      return;
    }
    this.fetching.set(id, false);
    api("GET", `/jobs/${encodeURIComponent(id)}`)
      .then((record) => this.state(id).applyRecord(record))
      .catch((error) => {
        if (error instanceof ApiError && error.status === 404) this.jobs.delete(id); // gone: retention
      })
      .finally(() => {
        const again = this.fetching.get(id);
        this.fetching.delete(id);
        this.dirty.add(id);
        this.draw();
        if (again) this.refresh(id);
      });
  }

  render() {
    if (!this.listed) return;
    for (const id of this.dirty) {
      const state = this.jobs.get(id);
      const shown = this.rows.get(id);
      if (state === undefined) {
        shown?.row.remove();
        this.rows.delete(id);
      } else {
        this.fill(shown ?? this.addRow(id), state);
      }
    }
    this.dirty.clear();
    this.count.textContent = `(${this.rows.size})`;
  }

  addRow(id) {
    const cells = Object.fromEntries(COLUMNS.map((column) => [column, el("td", { "data-field": column })]));
    const row = el("tr", { "data-job-id": id, class: id === this.current ? "current" : null }, Object.values(cells));
    // Newest first: the list answers in submission order, and a job first seen in an event is newer.
    this.body.prepend(row);
    const shown = { row, cells };
    this.rows.set(id, shown);
    return shown;
  }

  fill({ row, cells }, state) {
    const record = state.record;
    const link = el("a", { href: `/jobs/${encodeURIComponent(state.id)}` }, record?.name || state.id);
    cells.name.replaceChildren(link);
    cells.template.textContent = record?.template ?? "";
    cells.status.textContent = state.status ?? "";
    cells.status.className = `status ${state.status ?? ""}`;
    const done = state.epoch === null ? 0 : state.epoch + 1;
    cells.epoch.textContent = `${done} / ${record?.epochs ?? "?"}`;
    cells.epoch.dataset.done = String(done);
    cells.logs.textContent = formatLogs(state.logs);
    cells.attempts.textContent = String(state.attempts);
    const worker = record?.worker;
    cells.worker.textContent = worker ? `${worker.host}:${worker.pid}` : "";
    row.dataset.status = state.status ?? "";
  }
}
