// Per-site atomic DOS as a hand-drawn SVG line plot (no plotting library to vendor): one line per
// site, coloured by element; the selected site is drawn bold and the others faded.

const NS = "http://www.w3.org/2000/svg";
const W = 560;
const H = 320;
const M = { left: 56, right: 12, top: 12, bottom: 44 };
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function elementColors(sites) {
  const colors = {};
  for (const s of sites) colors[s.species] ??= PALETTE[Object.keys(colors).length % PALETTE.length];
  return colors;
}

function ticks(lo, hi, count) {
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= count) || step * 10;
  const out = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Number(v.toFixed(6)));
  return out;
}

// dos: the /v1/structures/{id}/dos data; selected: a site index or null (all sites alike).
export function dosPlot(dos, selected) {
  const energies = dos.energies;
  const sites = dos.sites;
  const values = sites.flatMap((s) => s.dos.filter((v) => v !== null));
  const yMax = Math.max(1e-6, ...values) * 1.05;
  const [x0, x1] = [energies[0], energies[energies.length - 1]];
  const sx = (e) => M.left + ((e - x0) / (x1 - x0)) * (W - M.left - M.right);
  const sy = (v) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom);
  const colors = elementColors(sites);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "dos-plot", class: "dos" });
  svg.append(el("title", {}, `Atomic DOS of ${sites.length} sites, ${dos.dos_unit} against energy in eV`));

  const axes = el("g", { class: "axes" });
  axes.append(el("line", { x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }));
  axes.append(el("line", { x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }));
  for (const t of ticks(x0, x1, 8)) {
    axes.append(el("line", { x1: sx(t), y1: H - M.bottom, x2: sx(t), y2: H - M.bottom + 4 }));
    axes.append(el("text", { x: sx(t), y: H - M.bottom + 16, "text-anchor": "middle" }, String(t)));
  }
  for (const t of ticks(0, yMax, 4)) {
    axes.append(el("line", { x1: M.left - 4, y1: sy(t), x2: M.left, y2: sy(t) }));
    axes.append(el("text", { x: M.left - 6, y: sy(t) + 4, "text-anchor": "end" }, String(t)));
  }
  axes.append(el("text", { x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle" }, "E − E_ref (eV; VBM, or Fermi level for metals)"));
  axes.append(el("text", { x: 14, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})` }, `DOS (${dos.dos_unit.split(" ")[0]})`));
  if (x0 < 0 && x1 > 0) axes.append(el("line", { x1: sx(0), y1: M.top, x2: sx(0), y2: H - M.bottom, class: "zero" }));
  svg.append(axes);

  const lines = el("g", { class: "lines" });
  const order = sites.map((_, i) => i).filter((i) => i !== selected);
  if (selected !== null && selected !== undefined) order.push(selected); // selected on top
  for (const i of order) {
    const site = sites[i];
    // A null value breaks the line rather than being drawn as zero.
    const segments = [];
    let current = [];
    site.dos.forEach((v, k) => {
      if (v === null) {
        if (current.length) segments.push(current);
        current = [];
      } else current.push(`${sx(energies[k]).toFixed(1)},${sy(v).toFixed(1)}`);
    });
    if (current.length) segments.push(current);
    const faded = selected !== null && selected !== undefined && i !== selected;
    for (const points of segments) {
      lines.append(
        el("polyline", {
          points: points.join(" "),
          fill: "none",
          stroke: colors[site.species],
          "stroke-width": i === selected ? 2.5 : 1.2,
          "stroke-opacity": faded ? 0.2 : 0.9,
          "data-site": i,
        }),
      );
    }
  }
  svg.append(lines);
  return svg;
}
