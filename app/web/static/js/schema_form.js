// Controls for job options the design form has no dedicated control for (relax, screen, budgets…),
// built from the server's JobCreate JSON schema. The form thus offers exactly what this server's API
// accepts: an option appears when the API gains it, with the API's own description as help text.

import { h } from "./util.js";

// The non-null alternative of an `anyOf: [X, {type: null}]` schema.
export function nonNull(schema) {
  if (schema && schema.anyOf) {
    const options = schema.anyOf.filter((s) => s.type !== "null");
    if (options.length === 1) return { ...schema, ...options[0], anyOf: undefined };
  }
  return schema || {};
}

let counter = 0;

function control(name, rawSchema, path) {
  const schema = nonNull(rawSchema);
  const id = `opt-${++counter}`;
  const label = schema.title || name;
  const help = schema.description ? h("small", { class: "help" }, schema.description) : null;
  if (schema.type === "object" && schema.properties) {
    const children = Object.entries(schema.properties).map(([k, s]) => control(k, s, [...path, k]));
    return {
      el: h("fieldset", { class: "nested" }, h("legend", {}, label), help, children.map((c) => c.el)),
      read: () => {
        const out = {};
        for (const child of children) {
          const v = child.read();
          if (v !== undefined) out[child.name] = v;
        }
        return Object.keys(out).length ? out : undefined;
      },
      name,
    };
  }
  if (schema.type === "boolean") {
    // Three states: leave it to the server (its default), yes, no.
    const def = schema.default ?? rawSchema.default;
    const select = h(
      "select",
      { id, name: path.join(".") },
      h("option", { value: "" }, def === undefined ? "— (not set)" : `— (server default: ${def ? "yes" : "no"})`),
      h("option", { value: "true" }, "yes"),
      h("option", { value: "false" }, "no"),
    );
    return {
      el: h("div", { class: "field" }, h("label", { for: id }, label), select, help),
      read: () => (select.value === "" ? undefined : select.value === "true"),
      name,
    };
  }
  const numeric = schema.type === "number" || schema.type === "integer";
  const input = h("input", {
    id,
    name: path.join("."),
    type: numeric ? "number" : "text",
    step: schema.type === "integer" ? "1" : "any",
    min: schema.minimum,
    max: schema.maximum,
    placeholder: schema.default !== undefined ? `default ${schema.default}` : "",
  });
  return {
    el: h("div", { class: "field" }, h("label", { for: id }, label), input, help),
    read: () => {
      const text = input.value.trim();
      if (text === "") return undefined;
      if (numeric) return Number(text);
      if (schema.type === "array") return text.split(/[\s,]+/).filter(Boolean);
      return text;
    },
    name,
  };
}

// Controls for every top-level JobCreate property not in `known`; `read()` gives the body fragment.
export function extraOptions(jobSchema, known) {
  const props = (jobSchema && jobSchema.properties) || {};
  const controls = Object.entries(props)
    .filter(([name]) => !known.includes(name))
    .map(([name, schema]) => control(name, schema, [name]));
  return {
    controls,
    read() {
      const out = {};
      for (const c of controls) {
        const v = c.read();
        if (v !== undefined) out[c.name] = v;
      }
      return out;
    },
  };
}

// The {min, max} object alternative of a target property, when the API accepts ranges.
export function rangeSchema(propertySchema) {
  const options = (propertySchema && propertySchema.anyOf) || [];
  return options.find((s) => s.type === "object" && s.properties && "min" in s.properties) || null;
}
