// Structure-page sections for what newer API versions report (relaxation, self-consistency, screen,
// DFT verification). Each renders only when the API sent its block, so the page works with both.

import { api } from "./api.js";
import { showError, showInfo } from "./ui.js";
import { flag, fmt, h, pause } from "./util.js";

function rows(pairs) {
  return pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : fmt(v))]);
}

export function relaxationSection(relaxed) {
  if (!relaxed || !relaxed.status) return null;
  const sg = relaxed.space_group || {};
  return h(
    "section",
    { id: "relaxation" },
    h("h3", {}, "Relaxation"),
    h(
      "dl",
      { class: "card" },
      rows([
        ["status", relaxed.status + (relaxed.error ? ` — ${relaxed.error}` : "")],
        ["space group (relaxed)", sg.symbol ? `${sg.symbol} (${sg.number}); spglib symprec ${sg.symprec} Å, angle ${sg.angle_tolerance}°` : null],
        ["RMSD generated → relaxed (Å)", relaxed.rmsd],
        ["energy (eV/atom)", relaxed.energy_per_atom],
        ["converged", flag(relaxed.converged)],
        ["FIRE steps", relaxed.steps],
        ["wall time (s)", relaxed.seconds],
      ]),
    ),
    relaxed.method ? h("p", { class: "muted" }, relaxed.method) : null,
  );
}

export function consistencySection(consistency, screen) {
  const parts = [];
  if (consistency && (consistency.charge_mae !== null || consistency.dos_cosine !== null)) {
    parts.push(
      h("h3", {}, "Self-consistency"),
      h("dl", { class: "card" }, rows([["charge MAE, generated vs predictor (e)", consistency.charge_mae], ["DOS cosine, generated vs predictor", consistency.dos_cosine]])),
      consistency.method ? h("p", { class: "muted" }, consistency.method) : null,
    );
  }
  if (screen && screen.passed !== null && screen.passed !== undefined) {
    const checks = Object.entries(screen.checks || {}).map(([k, v]) => [k.replaceAll("_", " "), typeof v === "boolean" ? flag(v) : v]);
    parts.push(h("h3", {}, "Screen"), h("dl", { class: "card", id: "screen" }, rows([["passed", flag(screen.passed)], ...checks])));
  }
  return parts.length ? h("section", {}, parts) : null;
}

function siteComparison(v) {
  const dft = v.dft?.charges;
  if (!dft) return null;
  const gen = v.generated?.charges || [];
  const pred = v.predicted?.charges || [];
  const species = v.dft.species || [];
  return h(
    "table",
    { class: "data" },
    h("thead", {}, h("tr", {}, ["Site", "Element", "generated (e)", "predictor, relaxed cell (e)", "DFT Bader (e)"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      dft.map((q, i) => h("tr", {}, h("td", { class: "num" }, i), h("td", {}, species[i] ?? ""), h("td", { class: "num" }, fmt(gen[i])), h("td", { class: "num" }, fmt(pred[i])), h("td", { class: "num" }, fmt(q)))),
    ),
  );
}

function verificationBody(v, cancel) {
  const c = v.comparison || {};
  const metrics = Object.entries(c).map(([k, value]) => [k.replaceAll("_", " "), typeof value === "object" && value ? JSON.stringify(value) : value]);
  return [
    h(
      "dl",
      { class: "card" },
      rows([
        ["state", h("span", {}, h("span", { class: `state ${v.state}`, id: "verification-state" }, v.state), " ", cancel)],
        ["failure", v.failure_reason ? `${v.failure_reason}${v.error ? ` — ${v.error}` : ""}` : undefined],
        ["DFT band gap (eV)", v.dft?.band_gap],
        ["predicted band gap (eV)", v.predicted?.band_gap],
        ...metrics,
        ["wall time (s)", v.wall_seconds],
        ["time cap (s)", v.max_seconds],
      ]),
    ),
    siteComparison(v),
    v.method ? h("p", { class: "muted" }, v.method) : null,
  ];
}

// The DFT verification of one crystal: a button to request it, its state polled while it runs, and
// the generated-vs-DFT comparison once it has finished.
export function verificationSection(caps, id, signal) {
  if (!caps.verify && !caps.verification) return null;
  const out = h("div", { id: "verification", "aria-live": "polite" });
  let polling = false;
  const show = async () => {
    try {
      const v = (await api(`/v1/structures/${id}/verification`, { signal })).data;
      const active = ["queued", "running"].includes(v.state);
      const cancel = active && caps.verification_cancel ? h("button", { type: "button", id: "cancel-verification", onclick: cancelIt }, "Cancel verification") : "";
      out.replaceChildren(...verificationBody(v, cancel));
      return v.state;
    } catch (err) {
      if (err.status === 404) out.replaceChildren(h("p", { class: "muted" }, "Not verified yet."));
      else showError(err);
      return null;
    }
  };
  const poll = async () => {
    if (polling || !caps.verification) return;
    polling = true;
    while (!signal.aborted && ["queued", "running"].includes(await show())) await pause(3000, signal);
    polling = false;
  };
  const cancelIt = async () => {
    try {
      await api(`/v1/structures/${id}/verification/cancel`, { method: "POST" });
      await show();
    } catch (err) {
      showError(err);
    }
  };
  const verify = async () => {
    try {
      await api(`/v1/structures/${id}/verify`, { method: "POST" });
      showInfo("DFT verification requested: it runs on the server's DFT worker (minutes per crystal).");
      poll();
    } catch (err) {
      showError(err);
    }
  };
  poll();
  return h(
    "section",
    {},
    h("h3", {}, "DFT verification"),
    caps.verify ? h("button", { type: "button", id: "verify", onclick: verify }, "Verify with DFT") : null,
    out,
  );
}
