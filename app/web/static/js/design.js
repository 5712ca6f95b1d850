// Design: the job form. It builds a POST /v1/jobs body; the API validates it and its messages are
// shown as they are (the page does not duplicate the server's rules).

import { api } from "./api.js";
import { extraOptions, nonNull, rangeSchema } from "./schema_form.js";
import { capabilities, clearMessages, showError } from "./ui.js";
import { h } from "./util.js";

const TARGETS = [
  ["band_gap", "Band gap", "eV"],
  ["formation_energy_per_atom", "Formation energy", "eV/atom"],
];

function numberInput(id, attrs = {}) {
  return h("input", { id, name: id, type: "number", step: "any", ...attrs });
}

function readNumber(input) {
  const text = input.value.trim();
  return text === "" ? undefined : Number(text);
}

function targetRow(name, label, unit, schema) {
  const prop = (schema.properties && schema.properties[name]) || {};
  const scalar = nonNull({ anyOf: (prop.anyOf || []).filter((s) => s.type !== "object") });
  const range = rangeSchema(prop);
  const bounds = { min: scalar.minimum, max: scalar.maximum };
  const mode = h(
    "select",
    { id: `${name}-mode`, "aria-label": `${label} target` },
    h("option", { value: "none" }, "no target"),
    h("option", { value: "value" }, "value"),
    range ? h("option", { value: "range" }, "range") : null,
  );
  const value = numberInput(`${name}-value`, { ...bounds, "aria-label": `${label} value (${unit})`, hidden: true });
  const lo = numberInput(`${name}-min`, { ...bounds, "aria-label": `${label} from (${unit})`, hidden: true });
  const hi = numberInput(`${name}-max`, { ...bounds, "aria-label": `${label} to (${unit})`, hidden: true });
  const sync = () => {
    value.hidden = mode.value !== "value";
    lo.hidden = hi.hidden = mode.value !== "range";
  };
  mode.addEventListener("change", sync);
  const hint = bounds.min !== undefined ? `${bounds.min} to ${bounds.max} ${unit}` : unit;
  const el = h(
    "div",
    { class: "field target" },
    h("label", { for: `${name}-mode` }, `${label} (${unit})`),
    h("span", { class: "inline" }, mode, value, lo, hi),
    h("small", { class: "help" }, prop.description || hint), // the API's own words where it has them
  );
  const read = () => {
    if (mode.value === "value") return readNumber(value);
    if (mode.value === "range") return { min: readNumber(lo), max: readNumber(hi) };
    return undefined;
  };
  return { el, read };
}

// crypto.randomUUID exists only in secure contexts (https, localhost); a lab server on plain http is not one.
function requestId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function elements(text) {
  const list = text.split(/[\s,;]+/).filter(Boolean);
  return list.length ? list : undefined;
}

export async function designView(view, _params, signal) {
  const caps = await capabilities();
  const schema = caps.job_schema || {};
  const targetSchema = (schema.properties && schema.properties.target) || {};
  const rows = TARGETS.map(([name, label, unit]) => [name, targetRow(name, label, unit, targetSchema)]);
  const maxSamples = nonNull(schema.properties?.num_samples).maximum;

  const model = h("select", { id: "model", name: "model" });
  api("/v1/models", { signal })
    .then((env) => {
      for (const m of env.data) model.append(h("option", { value: m.name, selected: m.default }, m.default ? `${m.name} (default)` : m.name));
    })
    .catch(showError);

  const f = {
    num_samples: numberInput("num_samples", { min: 1, max: maxSamples, step: "1", value: "8", required: true }),
    guidance_scale: numberInput("guidance_scale", { min: 0, max: 20, value: "2" }),
    seed: numberInput("seed", { min: 0, step: "1", placeholder: "random" }),
    steps: numberInput("steps", { min: 1, step: "1", placeholder: "model default" }),
    allowed: h("input", { id: "allowed_elements", type: "text", placeholder: "e.g. Li Fe P O" }),
    required: h("input", { id: "required_elements", type: "text", placeholder: "e.g. Li" }),
    atoms_min: numberInput("atoms_min", { min: 1, step: "1", "aria-label": "fewest atoms per cell" }),
    atoms_max: numberInput("atoms_max", { min: 1, step: "1", "aria-label": "most atoms per cell" }),
  };
  const extras = extraOptions(schema, caps.form_fields || []);
  const field = (id, label, input, help) =>
    h("div", { class: "field" }, h("label", { for: id }, label), input, help ? h("small", { class: "help" }, help) : null);

  const submit = h("button", { type: "submit", class: "primary" }, "Generate crystals");
  const form = h(
    "form",
    { id: "design-form", novalidate: true },
    h("h2", {}, "Design crystals"),
    h("fieldset", {}, h("legend", {}, "Property targets (classifier-free guidance)"), rows.map(([, r]) => r.el)),
    h(
      "fieldset",
      {},
      h("legend", {}, "Sampling"),
      field("num_samples", "Number of crystals", f.num_samples, maxSamples ? `1 to ${maxSamples}` : null),
      field("model", "Model variant", model, "GET /v1/models"),
      field("guidance_scale", "Guidance scale γ", f.guidance_scale, "0–20; 1 = plain conditional, higher pulls harder to the target"),
      field("seed", "Seed", f.seed, "same request + seed ⇒ same crystals"),
      field("steps", "Diffusion steps", f.steps),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Chemical system and size"),
      field("allowed_elements", "Allowed elements", f.allowed, "only these may appear (symbols, space- or comma-separated)"),
      field("required_elements", "Required elements", f.required, "every crystal contains all of these"),
      h(
        "div",
        { class: "field" },
        h("label", { for: "atoms_min" }, "Atoms per cell"),
        h("span", { class: "inline" }, f.atoms_min, " to ", f.atoms_max),
      ),
    ),
    // Relax / screen / budget options come from the API's own schema (issue 17 adds them to the job API).
    h(
      "fieldset",
      { id: "extra-options" },
      h("legend", {}, "Relaxation and screening"),
      extras.controls.length
        ? extras.controls.map((c) => c.el)
        : h("p", { class: "muted", id: "no-extra-options" }, "This server's job API has no relaxation or screening options yet; they appear here when it does."),
    ),
    submit,
  );

  form.addEventListener("input", clearMessages); // a stale error goes once the user edits
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { num_samples: readNumber(f.num_samples) };
    const target = {};
    for (const [name, row] of rows) {
      const v = row.read();
      if (v !== undefined) target[name] = v;
    }
    if (Object.keys(target).length) body.target = target;
    for (const key of ["guidance_scale", "seed", "steps"]) {
      const v = readNumber(f[key]);
      if (v !== undefined) body[key] = v;
    }
    if (model.value) body.model = model.value;
    const allowed = elements(f.allowed.value);
    const required = elements(f.required.value);
    if (allowed) body.allowed_elements = allowed;
    if (required) body.required_elements = required;
    const lo = readNumber(f.atoms_min);
    const hi = readNumber(f.atoms_max);
    if (lo !== undefined || hi !== undefined) body.num_atoms = { min: lo ?? 1, max: hi ?? lo };
    Object.assign(body, extras.read());
    submit.disabled = true;
    try {
      // One Idempotency-Key per click: a retried request never creates a second job.
      const env = await api("/v1/jobs", { method: "POST", body, headers: { "Idempotency-Key": requestId() } });
      location.hash = `#/jobs/${env.data.id}`;
    } catch (err) {
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });
  view.append(form);
}
