// Small DOM helpers shared by the views (no framework: the page must run without a build step).

const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "textContent"]);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (PROPS.has(name)) el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

export function flag(value) {
  if (value === null || value === undefined) return h("span", { class: "muted", title: "unknown" }, "–");
  return value
    ? h("span", { class: "ok", title: "passes" }, "✓ yes")
    : h("span", { class: "bad", title: "fails" }, "✗ no");
}

export function targetText(target) {
  const part = (v, unit) => (v && typeof v === "object" ? `${fmt(v.min, 2)}–${fmt(v.max, 2)} ${unit}` : `${fmt(v, 2)} ${unit}`);
  const parts = [];
  if (target && target.band_gap !== null && target.band_gap !== undefined) parts.push(`gap ${part(target.band_gap, "eV")}`);
  if (target && target.formation_energy_per_atom !== null && target.formation_energy_per_atom !== undefined)
    parts.push(`E_form ${part(target.formation_energy_per_atom, "eV/atom")}`);
  return parts.join(", ") || "unconditional";
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

export function progressBar(job) {
  const pct = Math.round((job.progress || 0) * 100);
  return h(
    "span",
    { class: "progress" },
    h("progress", { value: job.progress || 0, max: 1, "aria-label": `progress ${pct}%` }),
    ` ${pct}%`,
  );
}

// Sleep that ends early when the view is left (its AbortSignal fires).
export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
