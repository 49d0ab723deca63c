// Building DOM nodes from data without ever parsing data as HTML: text goes in as text.

/** An element `tag` with `attributes` (`class`, `data-*`, properties such as `disabled`) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name in node && !name.startsWith("data-") && name !== "list") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** A number as people read a loss or a metric: four significant digits, no exponent below 1e-4. */
export function formatNumber(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 1e-4) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

/** The logs of an epoch as one line: `loss 0.1234 · accuracy 0.9 · val_loss 0.2`. */
export function formatLogs(logs) {
  return Object.entries(logs ?? {})
    .map(([name, value]) => `${name} ${formatNumber(value)}`)
    .join(" · ");
}

/** Calls `draw()` once in the next animation frame however often it is asked in between. */
export function frameScheduler(draw) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  };
}
