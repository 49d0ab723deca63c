// One job: its status, epoch counter, curves (live from its event streams), parameters,
// and the buttons to cancel and resume it.

import { api, ApiError } from "./api.js";
import { BatchChart, EpochCharts } from "./charts.js";
import { el, formatLogs, frameScheduler } from "./dom.js";
import { Feed } from "./feed.js";
import { FINISHED, JobState } from "./jobstate.js";

export class JobPage {
  constructor(container, id) {
    this.container = container;
    this.id = id;
    this.state = new JobState(id);
    this.feed = null;
    this.batchFeed = null;
    this.fetching = null;
    this.fields = {};
    this.message = el("p", { class: "message", role: "status" });
    this.draw = frameScheduler(() => this.render());
  }

  async start() {
    let record;
    try {
      record = await api("GET", this.path());
    } catch (error) {
      if (error instanceof ApiError) this.container.append(el("p", { class: "message error" }, error.message));
      throw error;
    }
    this.state.applyRecord(record);
    this.layout(record);
    this.follow(null);
    this.render();
  }

  stop() {
    this.feed?.close();
    this.batchFeed?.close();
  }

  path(suffix = "") {
    return `/jobs/${encodeURIComponent(this.id)}${suffix}`;
  }

  layout(record) {
    const field = (name) => (this.fields[name] = el("dd", { "data-field": name }));
    this.cancelButton = el("button", { type: "button", id: "cancel", onclick: () => this.act("DELETE", "") }, "Cancel");
    this.resumeButton = el("button", { type: "button", id: "resume", onclick: () => this.act("POST", "/resume") }, "Resume");
    const curves = el("div", { class: "charts", id: "epoch-charts" });
    const batches = el("div", { class: "charts", id: "batch-chart" });
    this.charts = new EpochCharts(curves);
    this.batches = new BatchChart(batches);
    new ResizeObserver(() => {
      this.charts.resize();
      this.batches.resize();
    }).observe(curves);
    this.container.append(
      el("section", { class: "job", id: "job", "data-job-id": this.id },
        el("h2", {}, record.name || this.id),
        el("dl", { class: "facts" },
          el("dt", {}, "Status"), field("status"),
          el("dt", {}, "Epoch"), field("epoch"),
          el("dt", {}, "Latest"), field("logs"),
          el("dt", {}, "Attempts"), field("attempts"),
          el("dt", {}, "Template"), field("template"),
          el("dt", {}, "Worker"), field("worker"),
          el("dt", {}, "Id"), el("dd", {}, this.id),
          (this.errorLabel = el("dt", {}, "Error")), field("error"),
        ),
        el("div", { class: "actions" }, this.cancelButton, this.resumeButton, this.message),
        curves,
        batches,
        el("h3", {}, "Parameters"),
        el("table", { class: "params", id: "params" },
          el("tbody", {}, Object.entries(record.params ?? {}).map(([name, value]) =>
            el("tr", { "data-param": name }, el("th", {}, name), el("td", {}, JSON.stringify(value)))))),
      ),
    );
  }

  /**
   * Follow the job's events after stored event `lastId` (null: from its beginning), on two streams.
   * The epoch-level one reads the service's journal, so it is lossless however far behind the page
   * falls: the curves, the counter and the status come from it. The batch-level one coalesces what a
   * slow reader has not taken yet, so only the batch panel reads it.
   */
  follow(lastId) {
    const finished = () => FINISHED.has(this.state.status);
    // After a drop the record is asked again: a service that crashed may have lost (and so renumbered)
    // the last events it had sent before they reached its database.
    const onReconnect = () => this.refresh();
    this.feed?.close();
    this.batchFeed?.close();
    this.feed = new Feed(this.path("/events"), (event) => this.receive(event), { lastId, finished, onReconnect }).open();
    // A finished job has no batches to come (and a batch stream would replay its history for nothing).
    this.batchFeed = finished()
      ? null
      : new Feed(this.path("/events?level=batch"), (event) => this.receiveBatch(event), { lastId, finished }).open();
  }

  receive(event) {
    if (event.run !== this.id) return;
    if (event.event === "EpochEnd") this.charts.add(event.epoch, event.logs);
    if (event.event === "JobStatusChanged" || event.event === "TrainBegin") this.refresh(); // worker, epochs
    if (this.state.applyEvent(event)) this.draw();
  }

  receiveBatch(event) {
    if (event.run !== this.id) return;
    if (event.event === "EpochBegin") this.batches.begin(event.epoch);
    else if (event.event === "TrainBatchEnd") this.batches.add(event.batch, event.logs?.loss);
  }

  refresh() {
    if (this.fetching !== null) {
      this.fetching.again = true;
      return;
    }
    this.fetching = { again: false };
    api("GET", this.path())
      .then((record) => this.state.applyRecord(record))
      .catch(() => {})
      .finally(() => {
        const { again } = this.fetching;
        this.fetching = null;
        this.draw();
        if (again) this.refresh();
      });
  }

  async act(method, suffix) {
    this.message.textContent = "";
    this.message.classList.remove("error");
    try {
      // A resumed job's record counts its next run among its attempts: it is newer than the cancel.
      this.state.applyRecord(await api(method, this.path(suffix)));
    } catch (error) {
      this.message.textContent = error.message;
      this.message.classList.add("error");
      return;
    }
    // A finished job's stream has ended: follow the resumed run from the last event seen.
    const following = !this.feed.stopped && this.batchFeed !== null && !this.batchFeed.stopped;
    if (!following && !FINISHED.has(this.state.status)) this.follow(this.feed.lastId);
    this.render();
  }

  render() {
    const { state } = this;
    const record = state.record ?? {};
    const done = state.epoch === null ? 0 : state.epoch + 1;
    this.fields.status.textContent = state.status ?? "";
    this.fields.status.className = `status ${state.status ?? ""}`;
    this.fields.epoch.textContent = `${done} / ${record.epochs ?? "?"}`;
    this.fields.epoch.dataset.done = String(done);
    this.fields.logs.textContent = formatLogs(state.logs);
    this.fields.attempts.textContent = String(state.attempts);
    this.fields.template.textContent = record.template ?? "";
    this.fields.worker.textContent = record.worker ? `${record.worker.host}:${record.worker.pid}` : "";
    this.fields.error.textContent = state.error ?? "";
    this.errorLabel.hidden = this.fields.error.hidden = !state.error;
    this.cancelButton.disabled = !(state.status === "queued" || state.status === "running");
    this.resumeButton.disabled = !(state.status === "cancelled" || state.status === "failed");
    this.container.querySelector("#job").dataset.status = state.status ?? "";
  }
}
