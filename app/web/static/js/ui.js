// The error/info banner and the server's capabilities, shared by all views.

import { h } from "./util.js";

let capabilitiesPromise = null;
// What this server's API offers beyond the basics (read from its OpenAPI schema by the server).
export function capabilities() {
  capabilitiesPromise ??= fetch("/web/capabilities.json").then((r) => r.json());
  return capabilitiesPromise;
}

const messages = document.getElementById("messages");

export function showError(err) {
  if (err && err.name === "AbortError") return;
  console.error(err);
  messages.replaceChildren(
    h("p", { class: "error" }, h("strong", {}, "Error "), err && err.message ? err.message : String(err)),
  );
}

export function clearMessages() {
  messages.replaceChildren();
}

export function showInfo(text) {
  messages.replaceChildren(h("p", { class: "info" }, text));
}

