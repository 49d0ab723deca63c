// A job's curves with uPlot (vendored, the global `uPlot`): the loss and each metric per epoch, training
// and validation on the same axes, one panel per metric, as History.plot draws them; and the loss of
// each batch of the current epoch. Points are added as events come and drawn once per frame.
//
// Each panel's figure says how many points it holds (`data-points`); the batch panel also counts every
// batch point it has drawn (`data-drawn`), so a test or a curious user can check that nothing was lost.

import { el, frameScheduler } from "./dom.js";

const TRAINING = "#1f77b4"; // matplotlib's first two colours, as in History.plot
const VALIDATION = "#ff7f0e";
const HEIGHT = 220;
// Whole numbers only on the x axes: epochs and batches.
const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

/** Tick labels with as many decimals as the step between ticks has: 0.0725, 0.073, 0.0735, not 0.073 thrice. */
function ticks(plot, values) {
  const step = values.length > 1 ? Math.abs(values[1] - values[0]) : 1;
  const written = String(Number(step.toPrecision(6)));
  const decimals = step >= 1 ? 0 : written.includes("e") ? 1 - Math.floor(Math.log10(step)) : written.split(".")[1].length;
  return values.map((value) => value.toFixed(Math.min(decimals, 20)));
}

function width(figure) {
  return Math.max(240, figure.clientWidth);
}

class Panel {
  constructor(container, { title, xLabel, yLabel, series, steps }) {
    this.caption = el("figcaption", {}, title);
    this.figure = el("figure", { class: "chart", "data-metric": title, "data-points": "0" }, this.caption);
    container.append(this.figure);
    this.plot = new uPlot(
      {
        width: width(this.figure),
        height: HEIGHT,
        scales: { x: { time: false } },
        axes: [
          { label: xLabel, incrs: steps, space: 40 },
          { label: yLabel, size: 64, values: ticks },
        ],
        series: [{ label: xLabel }, ...series],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      },
      [[], ...series.map(() => [])],
      this.figure,
    );
    this.figure.plot = this.plot; // for a look from the browser's console (or a test) at what is drawn
  }

  show(data) {
    this.plot.setData(data);
    this.figure.dataset.points = String(data[0].length);
  }

  resize() {
    this.plot.setSize({ width: width(this.figure), height: HEIGHT });
  }

  remove() {
    this.plot.destroy();
    this.figure.remove();
  }
}

function line(label, stroke) {
  // Points where there is room for them (uPlot decides), as History.plot marks each epoch.
  return { label, stroke, width: 2, points: { size: 5 }, spanGaps: true };
}

/** The per-epoch panels of one job. */
export class EpochCharts {
  constructor(container) {
    this.container = container;
    this.epochs = new Map(); // epoch (0-based) -> logs; a later run of the same epoch replaces it
    this.panels = new Map(); // metric -> {panel, validated}
    this.draw = frameScheduler(() => this.render());
  }

  add(epoch, logs) {
    this.epochs.set(epoch, logs ?? {});
    this.draw();
  }

  render() {
    const epochs = [...this.epochs.keys()].sort((a, b) => a - b);
    const names = new Set(["loss"]); // the loss first, as History.plot draws it; then the metrics as logged
    for (const logs of this.epochs.values()) for (const name of Object.keys(logs)) names.add(name);
    if (!epochs.some((epoch) => "loss" in this.epochs.get(epoch))) names.delete("loss");
    const x = epochs.map((epoch) => epoch + 1); // History.plot counts epochs from 1
    for (const name of names) {
      if (name.startsWith("val_")) continue;
      const validated = names.has(`val_${name}`);
      let entry = this.panels.get(name);
      if (entry !== undefined && entry.validated !== validated) {
        entry.panel.remove(); // validation appeared: its series is part of the panel's layout
        entry = undefined;
      }
      if (entry === undefined) {
        const series = [line("training", TRAINING)];
        if (validated) series.push(line("validation", VALIDATION));
        const panel = new Panel(this.container, { title: name, xLabel: "epoch", yLabel: name, series, steps: STEPS });
        entry = { panel, validated };
        this.panels.set(name, entry);
      }
      const column = (key) => epochs.map((epoch) => this.epochs.get(epoch)[key] ?? null);
      entry.panel.show(validated ? [x, column(name), column(`val_${name}`)] : [x, column(name)]);
    }
  }

  resize() {
    for (const { panel } of this.panels.values()) panel.resize();
  }
}

/** The loss of each training batch of the epoch under way. */
export class BatchChart {
  constructor(container) {
    this.container = container;
    this.epoch = null;
    this.batches = [];
    this.losses = [];
    this.drawn = 0; // batch points drawn since the page opened
    this.received = 0;
    this.panel = null;
    this.draw = frameScheduler(() => this.render());
  }

  begin(epoch) {
    this.epoch = epoch;
    this.batches = [];
    this.losses = [];
    this.draw();
  }

  add(batch, loss) {
    if (typeof loss !== "number") return;
    const last = this.batches.at(-1);
    // A new epoch whose EpochBegin the coalescing batch stream dropped.
    if (last !== undefined && batch + 1 <= last) this.begin(this.epoch === null ? null : this.epoch + 1);
    this.batches.push(batch + 1);
    this.losses.push(loss);
    this.received += 1;
    this.draw();
  }

  render() {
    if (this.panel === null) {
      if (this.received === 0) return; // an epoch-level run, or nothing yet: no empty panel
      this.panel = new Panel(this.container, {
        title: "batch loss",
        xLabel: "batch",
        yLabel: "loss",
        steps: STEPS,
        series: [line("training", TRAINING)],
      });
    }
    // Keras logs a batch's loss as the mean over the epoch so far.
    this.panel.caption.textContent = `batch loss (mean so far), epoch ${this.epoch === null ? "?" : this.epoch + 1}`;
    this.panel.show([this.batches, this.losses]);
    this.drawn = this.received;
    this.panel.figure.dataset.drawn = String(this.drawn);
  }

  resize() {
    this.panel?.resize();
  }
}
