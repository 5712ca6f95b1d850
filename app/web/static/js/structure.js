// One crystal: 3D view coloured by Bader charge, per-site atomic DOS, properties with units and
// methods, provenance, downloads, and DFT verification where this server offers it.

import { api, download } from "./api.js";
import { dosPlot, elementColors } from "./dosplot.js";
import { consistencySection, relaxationSection, verificationSection } from "./sections.js";
import { capabilities, showError } from "./ui.js";
import { fmt, h } from "./util.js";
import { chargeColor, chargeScale, legend, renderCrystal, viewerControls } from "./viewer.js";

function propertiesTable(props) {
  // Every entry with a `method` is a property (value, unit, method): new ones show up unchanged.
  const rows = Object.entries(props)
    .filter(([, p]) => p && typeof p === "object" && "method" in p)
    .map(([name, p]) =>
      h("tr", {}, h("th", { scope: "row" }, name.replaceAll("_", " ")), h("td", { class: "num" }, fmt(p.value)), h("td", {}, p.unit || "–"), h("td", { class: "method" }, p.method)),
    );
  const errors = props.errors ? Object.entries(props.errors).map(([k, v]) => h("li", {}, `${k}: ${v}`)) : [];
  return h(
    "section",
    {},
    h("h3", {}, "Properties"),
    h("p", { class: "muted" }, `status: ${props.status ?? "–"}`),
    h("table", { class: "data", id: "properties" }, h("thead", {}, h("tr", {}, ["Property", "Value", "Unit", "How it was obtained"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows)),
    errors.length ? h("ul", { class: "bad" }, errors) : null,
  );
}

function provenanceList(prov) {
  const items = Object.entries(prov).map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, typeof v === "object" && v ? JSON.stringify(v) : fmt(v))]);
  return h("section", {}, h("h3", {}, "Provenance"), h("dl", { class: "card" }, items));
}

function siteTable(detail, charges, onSelect) {
  const scale = chargeScale(charges);
  const rows = detail.structure.sites.map((s, i) =>
    h(
      "tr",
      { "data-site": i },
      h("td", { class: "num" }, i),
      h("td", {}, s.species[0].element),
      h("td", { class: "num" }, h("span", { class: "dot", style: `background:${chargeColor(charges[i], scale) || "#ccc"}` }), " ", fmt(charges[i], 3)),
      h("td", { class: "num" }, s.abc.map((v) => v.toFixed(3)).join(", ")),
      h("td", {}, h("button", { type: "button", onclick: () => onSelect(i), "aria-label": `show site ${i}` }, "show")),
    ),
  );
  return h(
    "table",
    { class: "data", id: "sites" },
    h("thead", {}, h("tr", {}, ["Site", "Element", "Bader charge (e)", "Fractional coordinates", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows),
  );
}

export async function structureView(view, [id], signal) {
  const [caps, env] = await Promise.all([capabilities(), api(`/v1/structures/${id}`, { signal })]);
  const detail = env.data;
  const sites = detail.structure.sites;
  const charges = sites.map((s) => s.properties?.charge ?? null);
  let dos = null;
  try {
    dos = (await api(`/v1/structures/${id}/dos`, { signal })).data;
  } catch (err) {
    if (err.status !== 404) throw err; // 404: this variant stores no DOS
  }

  const viewerBox = h("div", { id: "viewer", class: "viewer", "aria-label": "3D view of the unit cell" });
  const dosBox = h("div", { id: "dos" });
  const siteSelect = h("select", { id: "dos-site" }, h("option", { value: "" }, "all sites"), sites.map((s, i) => h("option", { value: i }, `site ${i} ${s.species[0].element}`)));
  let crystal = null;
  const select = (i) => {
    siteSelect.value = i === null ? "" : String(i);
    if (dos) dosBox.replaceChildren(dosPlot(dos, i));
    if (crystal) crystal.select(i);
  };
  siteSelect.addEventListener("change", () => select(siteSelect.value === "" ? null : Number(siteSelect.value)));

  const sg = detail.space_group;
  const rsg = detail.relaxed?.space_group;
  const relaxedSg = rsg?.number ? ` · relaxed: ${rsg.symbol} (${rsg.number})` : "";
  const downloads = h(
    "div",
    { class: "toolbar", id: "downloads" },
    h("button", { type: "button", onclick: () => download(`/v1/structures/${id}.cif`, `${detail.reduced_formula}.cif`).catch(showError) }, "CIF (P1, with charges)"),
    detail.relaxed?.structure
      ? h("button", { type: "button", onclick: () => download(`/v1/structures/${id}.cif?relaxed=true`, `${detail.reduced_formula}-relaxed.cif`).catch(showError) }, "Relaxed CIF (P1)")
      : null,
    caps.symmetrized_cif
      ? h("button", { type: "button", onclick: () => download(`/v1/structures/${id}.cif?symmetrized=true`, `${detail.reduced_formula}-sym.cif`).catch(showError) }, "Symmetrized CIF")
      : null,
    h("button", { type: "button", onclick: () => download(`/v1/structures/${id}`, `${detail.reduced_formula}_${id}.json`).catch(showError) }, "JSON"),
    h("button", { type: "button", onclick: () => download(`/v1/jobs/${detail.job_id}/archive`, `job-${detail.job_id}.zip`).catch(showError) }, "Job archive (zip)"),
  );
  const colors = dos ? elementColors(dos.sites) : {};
  view.append(
    h("p", {}, h("a", { href: `#/jobs/${detail.job_id}` }, "← job ", detail.job_id.slice(0, 8))),
    h("h2", {}, detail.reduced_formula, h("small", {}, ` ${detail.formula} · generated: ${sg.symbol ?? "?"} (${sg.number ?? "?"})${relaxedSg} · ${detail.n_sites} sites · sample ${detail.sample_index}`)),
    downloads,
    h(
      "div",
      { class: "grid2" },
      h("section", {}, h("h3", {}, "Unit cell"), viewerBox, legend(chargeScale(charges), charges.some((q) => q !== null))),
      h(
        "section",
        {},
        h("h3", {}, "Atomic DOS per site"),
        dos ? h("div", { class: "toolbar" }, h("label", { for: "dos-site" }, "Highlight "), siteSelect) : null,
        dos ? dosBox : h("p", { class: "muted", id: "no-dos" }, "This model variant stores no DOS."),
        dos ? h("p", { class: "legend" }, Object.entries(colors).map(([el, c]) => h("span", { class: "swatch", style: `border-left: 14px solid ${c}` }, el))) : null,
        dos ? h("p", { class: "muted" }, `DOS in ${dos.dos_unit}; Gaussian broadening σ = ${dos.sigma} eV.`) : null,
      ),
    ),
    h("section", {}, h("h3", {}, "Sites"), siteTable(detail, charges, select)),
    propertiesTable(detail.properties),
    provenanceList(detail.provenance),
    relaxationSection(detail.relaxed) || "",
    consistencySection(detail.consistency, detail.screen) || "",
    verificationSection(caps, id, signal) || "",
  );
  // The generated charges belong to the generated cell; the relaxed cell is shown with the descriptor
  // predictor's charges on it, as the API labels them.
  const relaxedCell = detail.relaxed?.structure;
  const cells = { generated: [detail.structure, charges] };
  if (relaxedCell) cells.relaxed = [relaxedCell, detail.relaxed.predicted_charges || sites.map(() => null)];
  let controls = null;
  const show = (which) => {
    const [structure, q] = cells[which];
    const box = h("div", { id: "viewer", class: "viewer", "aria-label": `3D view of the ${which} unit cell` });
    (crystal ? crystal.box : viewerBox).replaceWith(box);
    crystal = renderCrystal(box, structure, q, select);
    crystal.box = box;
    const next = viewerControls(crystal);
    if (controls) controls.replaceWith(next);
    else box.after(next);
    controls = next;
  };
  if (relaxedCell) {
    const choice = h(
      "select",
      { id: "cell-choice", "aria-label": "which cell" },
      h("option", { value: "generated" }, "generated cell, generated charges"),
      h("option", { value: "relaxed" }, "relaxed cell, predictor charges"),
    );
    choice.addEventListener("change", () => show(choice.value));
    viewerBox.before(h("div", { class: "toolbar" }, choice));
  }
  show("generated");
  select(null);
}
