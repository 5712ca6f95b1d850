// Interactive 3D view of one unit cell with the vendored 3Dmol.js: atoms coloured by their Bader
// charge (red negative, white neutral, blue positive), cell edges drawn as thin cylinders.

import { h } from "./util.js";

// Symmetric colour scale so that 0 e is always white; at least ±0.5 e so small charges stay pale.
export function chargeScale(charges) {
  const known = charges.filter((q) => q !== null && q !== undefined);
  return Math.max(0.5, ...known.map((q) => Math.abs(q)));
}

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

export function chargeColor(q, scale) {
  if (q === null || q === undefined) return null;
  const t = Math.max(-1, Math.min(1, q / scale));
  const rgb = t < 0 ? mix([255, 255, 255], [200, 30, 30], -t) : mix([255, 255, 255], [30, 70, 200], t);
  return `#${rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

export function legend(scale, hasCharges) {
  if (!hasCharges) return h("p", { class: "muted" }, "This model variant stores no charges: atoms in element colours.");
  const stops = [-scale, -scale / 2, 0, scale / 2, scale];
  return h(
    "div",
    { class: "legend", "aria-label": "Bader charge colour scale" },
    h("span", {}, "Bader charge (e): "),
    stops.map((q) => h("span", { class: "swatch", style: `background:${chargeColor(q, scale)}` }, `${q > 0 ? "+" : ""}${q.toFixed(2)}`)),
  );
}

function cellEdges(matrix) {
  const [a, b, c] = matrix;
  const add = (...vs) => vs.reduce((s, v) => s.map((x, i) => x + v[i]), [0, 0, 0]);
  const corners = [[], [a], [b], [c], [a, b], [a, c], [b, c], [a, b, c]].map((vs) => add(...vs));
  const pairs = [[0, 1], [0, 2], [0, 3], [1, 4], [1, 5], [2, 4], [2, 6], [3, 5], [3, 6], [4, 7], [5, 7], [6, 7]];
  return pairs.map(([i, j]) => [corners[i], corners[j]]);
}

// Returns {select(index)} to highlight one site (from the site table or the DOS selector).
export function renderCrystal(container, structure, charges, onPick) {
  const $3Dmol = window.$3Dmol;
  if (!$3Dmol) throw new Error("3Dmol.js did not load (vendor/3dmol/3Dmol-min.js)");
  const viewer = $3Dmol.createViewer(container, { backgroundColor: "white", antialias: true });
  const sites = structure.sites;
  const xyz = `${sites.length}\n\n${sites.map((s) => `${s.species[0].element} ${s.xyz.join(" ")}`).join("\n")}\n`;
  const model = viewer.addModel(xyz, "xyz");
  const scale = chargeScale(charges);
  let selected = null;

  const style = () => {
    sites.forEach((_, i) => {
      const color = chargeColor(charges[i], scale);
      const sphere = { scale: i === selected ? 0.55 : 0.4, ...(color ? { color } : { colorscheme: "Jmol" }) };
      viewer.setStyle({ model, index: i }, { sphere, stick: { radius: 0.1, ...(color ? { color } : {}) } });
    });
    viewer.render();
  };
  for (const [start, end] of cellEdges(structure.lattice.matrix)) {
    const p = (v) => ({ x: v[0], y: v[1], z: v[2] });
    viewer.addCylinder({ start: p(start), end: p(end), radius: 0.03, color: "#555555", fromCap: 1, toCap: 1 });
  }
  viewer.setClickable({ model }, true, (atom) => onPick(atom.index));
  viewer.setHoverable(
    { model },
    true,
    (atom, v) => {
      if (atom.label) return;
      const q = charges[atom.index];
      const text = `${atom.elem}${atom.index}${q === null || q === undefined ? "" : ` ${q > 0 ? "+" : ""}${q.toFixed(2)} e`}`;
      atom.label = v.addLabel(text, { position: atom, backgroundColor: "#333333", fontSize: 12 });
    },
    (atom, v) => {
      if (atom.label) {
        v.removeLabel(atom.label);
        delete atom.label;
      }
    },
  );
  style();
  viewer.zoomTo();
  viewer.render();
  const api = {
    viewer,
    select(index) {
      selected = index;
      style();
    },
    rotate: (deg, axis) => (viewer.rotate(deg, axis), viewer.render()),
    zoom: (factor) => (viewer.zoom(factor), viewer.render()),
    reset: () => (viewer.zoomTo(), viewer.render()),
  };
  return api;
}

// Buttons so the view can be turned and zoomed from the keyboard, not only with a mouse.
export function viewerControls(crystal) {
  const b = (label, fn, title) => h("button", { type: "button", onclick: fn, title: title || label }, label);
  return h(
    "div",
    { class: "toolbar", role: "group", "aria-label": "3D view controls" },
    b("⟲ y", () => crystal.rotate(-20, "y"), "rotate left"),
    b("⟳ y", () => crystal.rotate(20, "y"), "rotate right"),
    b("⟲ x", () => crystal.rotate(-20, "x"), "rotate up"),
    b("⟳ x", () => crystal.rotate(20, "x"), "rotate down"),
    b("+", () => crystal.zoom(1.25), "zoom in"),
    b("−", () => crystal.zoom(0.8), "zoom out"),
    b("Reset view", () => crystal.reset()),
  );
}
