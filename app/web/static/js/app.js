// Hash router, API-key form and error banner. Each view gets the container, its route parameters and
// an AbortSignal that fires when the user navigates away (stops polling and pending requests).

import { api, getKey, setKey } from "./api.js";
import { designView } from "./design.js";
import { inspectView } from "./inspect.js";
import { structureView } from "./structure.js";
import { showError } from "./ui.js";
import { h } from "./util.js";
import { watchView } from "./watch.js";

const ROUTES = [
  [/^#\/design$/, designView, "design"],
  [/^#\/jobs$/, watchView, "jobs"],
  [/^#\/jobs\/([0-9a-f-]{36})$/, inspectView, "jobs"],
  [/^#\/structures\/([0-9a-f-]{36})$/, structureView, "jobs"],
];

let controller = null;

async function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  document.getElementById("messages").replaceChildren();
  const hash = location.hash || "#/design";
  const view = document.getElementById("view");
  for (const [pattern, fn, nav] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    view.replaceChildren();
    if (!getKey()) {
      view.append(h("p", { class: "notice" }, "Enter your API key above (ask the service's operator for one)."));
    }
    try {
      await fn(view, match.slice(1), controller.signal);
    } catch (err) {
      showError(err);
    }
    return;
  }
  location.hash = "#/design";
}

function setupKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const status = document.getElementById("key-status");
  input.value = getKey();
  status.textContent = getKey() ? "key saved" : "no key";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    try {
      await api("/v1/models"); // any authenticated GET tells whether the key is accepted
      status.textContent = "key accepted";
      render();
    } catch (err) {
      status.textContent = "key not accepted";
      showError(err);
    }
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    setKey("");
    input.value = "";
    status.textContent = "no key";
  });
}

setupKeyForm();
window.addEventListener("hashchange", render);
render();
