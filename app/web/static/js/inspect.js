// Inspect a job: its live state, then a table of its crystals. Filters go to the API (its range and
// validity filters, so a bad range shows the API's message); sorting is done on the loaded page.

import { api, download } from "./api.js";
import { nonNull } from "./schema_form.js";
import { capabilities, clearMessages, showError } from "./ui.js";
import { flag, fmt, h, pause, progressBar, TERMINAL, targetText } from "./util.js";
import { cancelJob } from "./watch.js";

const PAGE = 200;
// The relaxed crystal's space group where the API relaxes (issue 17), else the generated one's.
const spaceGroup = (s) => (s.relaxed?.space_group?.number ? s.relaxed.space_group : s.space_group) || {};
const BASE_COLUMNS = [
  ["sample_index", "#", (s) => s.sample_index],
  ["formula", "Formula", (s) => s.reduced_formula || s.formula],
  ["space_group", "Space group", (s) => spaceGroup(s).number ?? null],
  ["n_sites", "Sites", (s) => s.n_sites],
  ["band_gap", "Gap (eV)", (s) => s.predicted?.band_gap ?? null],
  ["formation_energy", "E_form (eV/atom)", (s) => s.predicted?.formation_energy_per_atom ?? null],
  ["e_above_hull", "E_hull (eV/atom)", (s) => s.predicted?.e_above_hull ?? null],
  ["valid", "Valid", (s) => s.validity?.valid ?? null],
];
// Columns for blocks only newer APIs send; shown when some row has a value.
const OPTIONAL_COLUMNS = [
  ["consistency_charge_mae", "Charge MAE (e)", (s) => s.consistency?.charge_mae ?? null, "self-consistency: generated vs predictor charges"],
  ["consistency_dos_cosine", "DOS cosine", (s) => s.consistency?.dos_cosine ?? null, "self-consistency: generated vs predictor DOS"],
  ["passed", "Screen", (s) => s.screen?.passed ?? null, "passed the job's screen"],
];

function columnsFor(rows) {
  return [...BASE_COLUMNS, ...OPTIONAL_COLUMNS.filter((c) => rows.some((r) => c[2](r) !== null))];
}

function cell(key, s, value) {
  if (key === "formula") return h("td", {}, h("a", { href: `#/structures/${s.id}` }, value));
  if (key === "space_group") {
    const sg = spaceGroup(s);
    const title = s.relaxed?.space_group?.number ? `relaxed; generated cell: ${s.space_group?.symbol ?? "?"}` : "generated cell";
    return h("td", { title }, sg.symbol ? `${sg.symbol} (${sg.number})` : "–");
  }
  if (key === "valid") return h("td", { title: `structurally valid: ${fmt(s.validity?.structurally_valid)}; SMACT: ${fmt(s.validity?.smact_valid)}` }, flag(value));
  if (key === "passed") return h("td", {}, flag(value));
  if (key === "e_above_hull" && s.predicted?.below_hull_flag) return h("td", { class: "num", title: s.predicted.below_hull_flag }, `${fmt(value, 3)} ⚠`);
  const digits = key === "band_gap" ? 2 : 3;
  return h("td", { class: "num" }, fmt(value, digits));
}

function jobCard(job) {
  return h(
    "dl",
    { class: "card", id: "job-card" },
    h("dt", {}, "State"),
    h("dd", {}, h("span", { class: `state ${job.state}`, id: "job-state" }, job.state), job.error ? h("span", { class: "bad" }, ` — ${job.error}`) : null),
    h("dt", {}, "Progress"),
    // A screened job's num_samples counts passing crystals, not stored ones (see Screen below).
    h("dd", {}, progressBar(job), job.screen ? ` · ${job.num_structures} crystals stored` : ` · ${job.num_structures} of ${job.num_samples} crystals stored`),
    h("dt", {}, "Target"),
    h("dd", {}, targetText(job.target)),
    h("dt", {}, "Model"),
    h("dd", {}, `${job.model}, γ = ${job.guidance_scale}, seed ${job.seed}, ${job.steps ?? "default"} steps`),
    job.allowed_elements ? [h("dt", {}, "Allowed elements"), h("dd", {}, job.allowed_elements.join(" "))] : null,
    job.required_elements ? [h("dt", {}, "Required elements"), h("dd", {}, job.required_elements.join(" "))] : null,
    job.num_atoms ? [h("dt", {}, "Atoms per cell"), h("dd", {}, `${job.num_atoms.min}–${job.num_atoms.max}`)] : null,
    job.charge_balance !== undefined && job.charge_balance !== null ? [h("dt", {}, "Charge-balance closing"), h("dd", {}, job.charge_balance ? "on: each crystal completed on a charge-balanced composition" : "off: the network's own compositions")] : null,
    job.relax !== undefined && job.relax !== null ? [h("dt", {}, "Relaxation"), h("dd", {}, job.relax ? "CHGNet relaxation of every crystal" : "off")] : null,
    job.phases ? [h("dt", {}, "Phases"), h("dd", {}, `sampling ${Math.round(job.phases.sampling * 100)}%`, job.phases.relaxation !== null && job.phases.relaxation !== undefined ? `, relaxation ${Math.round(job.phases.relaxation * 100)}%` : "")] : null,
    job.screen
      ? [
          h("dt", {}, "Screen"),
          h(
            "dd",
            { id: "job-screen" },
            `${job.screen.passed} passed of ${job.screen.generated} generated (budget ${job.screen.max_generated})`,
            job.screen.pass_rate !== null ? `, pass rate ${(job.screen.pass_rate * 100).toFixed(0)}%` : "",
            job.screen.stopped ? `; stopped: ${job.screen.stopped}` : "",
            h("br"),
            h("small", { class: "muted" }, JSON.stringify(job.screen.spec)),
          ),
        ]
      : null,
  );
}

const MAIN_FILTERS = ["band_gap_min", "band_gap_max", "formation_energy_max", "e_above_hull_max", "valid", "elements", "formula"];

// The list's other query filters, as this server's API declares them (screen, relaxation, consistency…).
function moreFilters(filters) {
  const inputs = Object.entries(filters || {})
    .filter(([name]) => !MAIN_FILTERS.includes(name))
    .map(([name, { schema, description }]) => {
      const type = nonNull(schema).type;
      const control =
        type === "boolean"
          ? h("select", { id: `f-${name}`, name }, h("option", { value: "" }, "any"), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"))
          : h("input", { id: `f-${name}`, name, type: type === "string" ? "text" : "number", step: type === "integer" ? "1" : "any", class: "short" });
      return h("label", { title: description || name }, name.replaceAll("_", " "), " ", control);
    });
  return inputs.length ? h("details", { class: "more-filters" }, h("summary", {}, "More filters"), h("div", { class: "filters" }, inputs)) : null;
}

function filterForm(caps, onApply) {
  const num = (id, label) => h("label", {}, label, " ", h("input", { id, name: id, type: "number", step: "any", class: "short" }));
  const valid = h("select", { id: "valid", name: "valid" }, h("option", { value: "" }, "any"), h("option", { value: "true" }, "valid"), h("option", { value: "false" }, "not valid"));
  const form = h(
    "form",
    { class: "filters", id: "filters" },
    num("band_gap_min", "gap ≥"),
    num("band_gap_max", "gap ≤"),
    num("formation_energy_max", "E_form ≤"),
    num("e_above_hull_max", "E_hull ≤"),
    h("label", {}, "validity ", valid),
    h("label", {}, "elements ", h("input", { id: "elements", name: "elements", type: "text", class: "short", placeholder: "Li,O" })),
    h("label", {}, "formula ", h("input", { id: "formula", name: "formula", type: "text", class: "short" })),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "reset" }, "Clear"),
    moreFilters(caps.structure_filters),
  );
  const apply = (event) => {
    event.preventDefault();
    clearMessages();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") params.set(k, String(v).trim());
    onApply(params);
  };
  form.addEventListener("submit", apply);
  form.addEventListener("input", clearMessages); // a stale error goes once the user edits
  form.addEventListener("reset", (event) => setTimeout(() => apply(event)));
  return form;
}

function structureTable(rows, sort, onSort) {
  const [key, dir] = sort;
  const columns = columnsFor(rows);
  const column = columns.find((c) => c[0] === key) || columns[0];
  const sorted = [...rows].sort((a, b) => {
    const x = column[2](a);
    const y = column[2](b);
    if (x === null) return 1; // unknown values last whatever the direction
    if (y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  const head = h(
    "tr",
    {},
    columns.map(([k, label, , title]) =>
      h(
        "th",
        { scope: "col", title, "aria-sort": k === key ? (dir > 0 ? "ascending" : "descending") : "none" },
        h("button", { type: "button", class: "sort", "data-sort": k, onclick: () => onSort(k) }, label, k === key ? (dir > 0 ? " ▲" : " ▼") : ""),
      ),
    ),
  );
  const body = sorted.map((s) => h("tr", { "data-structure": s.id }, columns.map(([k, , get]) => cell(k, s, get(s)))));
  return h("table", { class: "data", id: "structures-table" }, h("thead", {}, head), h("tbody", {}, body));
}

export async function inspectView(view, [jobId], signal) {
  const caps = await capabilities();
  const serverSorts = (key) => (caps.structure_sort_keys || []).includes(key);
  const card = h("div");
  const actions = h("div", { class: "toolbar" });
  const tableBox = h("div");
  const status = h("p", { class: "muted", "aria-live": "polite", id: "structures-status" });
  let params = new URLSearchParams();
  let offset = 0;
  let sort = ["sample_index", 1];
  let rows = [];
  let total = 0;

  const drawTable = () => {
    const onSort = (k) => {
      sort = [k, sort[0] === k ? -sort[1] : 1];
      // Where the API sorts, sort all pages there; otherwise sort the page in hand.
      if (serverSorts(k)) (offset = 0), load();
      else drawTable();
    };
    tableBox.replaceChildren(structureTable(rows, sort, onSort));
    const pager = h("div", { class: "toolbar" });
    if (offset > 0) pager.append(h("button", { type: "button", onclick: () => ((offset -= PAGE), load()) }, "← previous"));
    if (offset + rows.length < total) pager.append(h("button", { type: "button", onclick: () => ((offset += PAGE), load()) }, "next →"));
    tableBox.append(pager);
    const how = serverSorts(sort[0]) ? "sorted across all pages" : "sorted within this page";
    status.textContent = total ? `${offset + 1}–${offset + rows.length} of ${total} crystals (${how}; sort by a column heading)` : "no crystals match";
  };
  const load = async () => {
    const query = new URLSearchParams(params);
    query.set("limit", PAGE);
    query.set("offset", offset);
    if (serverSorts(sort[0])) query.set("sort", `${sort[1] < 0 ? "-" : ""}${sort[0]}`);
    try {
      const env = await api(`/v1/jobs/${jobId}/structures?${query}`, { signal });
      rows = env.data;
      total = env.meta.total;
      drawTable();
    } catch (err) {
      showError(err);
    }
  };

  view.append(
    h("h2", {}, "Job ", h("code", {}, jobId)),
    card,
    actions,
    h("h3", {}, "Crystals"),
    filterForm(caps, (p) => ((params = p), (offset = 0), load())),
    status,
    tableBox,
  );

  let job = null;
  while (!signal.aborted) {
    job = (await api(`/v1/jobs/${jobId}`, { signal })).data;
    card.replaceChildren(jobCard(job));
    const cancel = TERMINAL.has(job.state) ? "" : h("button", { type: "button", onclick: () => cancelJob(job, () => {}) }, "Cancel job");
    actions.replaceChildren(
      h("button", { type: "button", onclick: () => download(`/v1/jobs/${jobId}/archive`, `job-${jobId}.zip`).catch(showError) }, "Download archive (zip)"),
      cancel,
    );
    await load(); // new crystals appear while the job runs
    if (TERMINAL.has(job.state)) break;
    await pause(1500, signal);
  }
}
