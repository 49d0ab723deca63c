// The form that submits a job from any registered template, its fields generated from the template's
// JSON Schema; the service's 422 details are shown beside the fields they name.

import { api, ApiError } from "./api.js";
import { el } from "./dom.js";
import { field } from "./schema.js";

export class SubmitForm {
  constructor(container) {
    this.container = container;
    this.templates = [];
    this.fields = [];
  }

  async start() {
    ({ templates: this.templates } = await api("GET", "/templates"));
    this.template = el("select", { id: "template", name: "template", onchange: () => this.showFields() },
      this.templates.map((template) => el("option", { value: template.name }, template.name)));
    this.templateError = el("span", { class: "field-error", "data-error-for": "template", role: "alert" });
    this.description = el("p", { class: "hint" });
    this.name = el("input", { id: "job-name", name: "name", type: "text", placeholder: "optional" });
    this.nameError = el("span", { class: "field-error", "data-error-for": "name", role: "alert" });
    this.params = el("div", { class: "params" });
    this.message = el("p", { class: "message error", role: "alert" });
    this.form = el("form", { id: "submit", novalidate: true, onsubmit: (event) => this.submit(event) },
      el("div", { class: "field" }, el("label", { for: "template" }, "Template"), this.template, this.description,
        this.templateError),
      el("div", { class: "field" }, el("label", { for: "job-name" }, "Name"), this.name, this.nameError),
      this.params,
      el("button", { type: "submit" }, "Submit"),
      this.message);
    this.container.append(el("h2", {}, "Submit a job"), this.form);
    this.showFields();
  }

  showFields() {
    const template = this.templates.find((entry) => entry.name === this.template.value);
    const schema = template?.schema ?? {};
    this.description.textContent = template?.description ?? "";
    const required = new Set(schema.required ?? []);
    this.fields = Object.entries(schema.properties ?? {}).map(([name, property]) =>
      field(name, property, schema, required.has(name)));
    this.params.replaceChildren(...this.fields.map((entry) => entry.row));
  }

  async submit(event) {
    event.preventDefault();
    const params = {};
    for (const entry of this.fields) {
      const value = entry.read();
      if (value !== undefined) params[entry.name] = value;
    }
    const body = { template: this.template.value, params };
    if (this.name.value.trim() !== "") body.name = this.name.value.trim();
    this.clearErrors();
    let job;
    try {
      job = await api("POST", "/jobs", body);
    } catch (error) {
      if (error instanceof ApiError) this.showErrors(error);
      else this.message.textContent = error.message;
      return;
    }
    location.assign(`/jobs/${encodeURIComponent(job.id)}`);
  }

  clearErrors() {
    this.message.textContent = "";
    for (const node of this.form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of this.form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  }

  /** Each detail beside its field (`params.epochs`, `params.layers.0`, `name`, `template`); the rest above. */
  showErrors(error) {
    const unplaced = [];
    for (const { field: path, reason } of error.details) {
      const [head, name, ...rest] = String(path ?? "").split(".");
      let target = null;
      let where = "";
      if (head === "params" && name !== undefined) {
        target = this.fields.find((entry) => entry.name === name)?.error ?? null;
        where = rest.length ? `${rest.join(".")}: ` : "";
      } else if (head === "name" && name === undefined) {
        target = this.nameError;
      } else if (head === "template" && name === undefined) {
        target = this.templateError;
      }
      if (target === null) {
        unplaced.push(path ? `${path}: ${reason}` : reason);
        continue;
      }
      target.textContent = [target.textContent, `${where}${reason}`].filter(Boolean).join("; ");
      target.closest(".field")?.classList.add("invalid");
    }
    this.message.textContent = [error.message, ...unplaced].join(" — ");
  }
}
