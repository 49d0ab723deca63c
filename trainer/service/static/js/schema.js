// A template's parameters as form fields, from the JSON Schema pydantic writes for them.

import { el } from "./dom.js";

/** `schema` with `$ref`s into `root.$defs` resolved, and `anyOf: [X, {type: "null"}]` read as X, nullable. */
export function resolve(schema, root) {
  let nullable = false;
  for (;;) {
    if (schema.$ref?.startsWith("#/$defs/")) {
      schema = { ...root.$defs?.[schema.$ref.slice(8)], ...schema, $ref: undefined };
    } else if (Array.isArray(schema.allOf) && schema.allOf.length === 1) {
      schema = { ...schema.allOf[0], ...schema, allOf: undefined };
    } else if (Array.isArray(schema.anyOf)) {
      const options = schema.anyOf.filter((option) => option.type !== "null");
      nullable ||= options.length < schema.anyOf.length;
      if (options.length !== 1) break;
      schema = { ...options[0], ...schema, anyOf: undefined };
    } else {
      break;
    }
  }
  return { ...schema, nullable };
}

function range(schema) {
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  const open = (key) => (schema[key] !== undefined ? " (exclusive)" : "");
  const parts = [];
  if (low !== undefined) parts.push(`from ${low}${open("exclusiveMinimum")}`);
  if (high !== undefined) parts.push(`to ${high}${open("exclusiveMaximum")}`);
  return parts.join(" ");
}

function number(text) {
  // Sent as typed when it is not a number, so the service's own message says what is wrong with it.
  const value = Number(text);
  return text.trim() === "" || Number.isNaN(value) ? text : value;
}

/** One form field: `{name, row, read()}`; `read()` is `undefined` when left empty (the default applies). */
export function field(name, raw, root, required) {
  const schema = resolve(raw, root);
  const id = `param-${name}`;
  const label = el("label", { for: id }, schema.title ?? name);
  const hint = [schema.description, range(schema)];
  let input;
  let read;
  if (Array.isArray(schema.enum)) {
    input = el("select", { id, name },
      !required || schema.nullable ? el("option", { value: "" }, "") : null,
      schema.enum.map((choice) => el("option", { value: JSON.stringify(choice) }, String(choice))));
    if (schema.default !== undefined) input.value = JSON.stringify(schema.default);
    read = () => (input.value === "" ? undefined : JSON.parse(input.value));
  } else if (schema.type === "boolean") {
    input = el("input", { id, name, type: "checkbox", checked: schema.default === true });
    read = () => input.checked;
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", {
      id, name, type: "text", inputmode: schema.type === "integer" ? "numeric" : "decimal",
      value: schema.default ?? "",
    });
    read = () => (input.value.trim() === "" ? undefined : number(input.value));
  } else if (schema.type === "array" && ["integer", "number"].includes(resolve(schema.items ?? {}, root).type)) {
    const items = resolve(schema.items, root);
    hint.push(`comma-separated, each ${range(items)}`.trim());
    if (schema.minItems !== undefined || schema.maxItems !== undefined) {
      hint.push(`${schema.minItems ?? 0} to ${schema.maxItems ?? "any number of"} values`);
    }
    input = el("input", { id, name, type: "text", value: (schema.default ?? []).join(", ") });
    read = () => {
      const text = input.value.trim();
      return text === "" ? [] : text.split(/[\s,]+/).filter(Boolean).map(number);
    };
  } else if (schema.type === "string") {
    input = el("input", { id, name, type: "text", value: schema.default ?? "" });
    read = () => (input.value === "" && !required ? undefined : input.value);
  } else {
    hint.push("JSON");
    input = el("textarea", { id, name, rows: 2 }, schema.default === undefined ? "" : JSON.stringify(schema.default));
    read = () => {
      const text = input.value.trim();
      if (text === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        return text; // the service says what it expected
      }
    };
  }
  const error = el("span", { class: "field-error", "data-error-for": name, role: "alert" });
  const row = el("div", { class: "field", "data-field": name },
    label, input, el("small", { class: "hint" }, hint.filter(Boolean).join("; ")), error);
  return { name, row, read, error };
}
