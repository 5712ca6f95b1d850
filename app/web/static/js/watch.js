// Watch: this key's jobs, newest first, refreshed by polling while the view is open (the API has no
// event stream yet; polling GET /v1/jobs is what every client can rely on).

import { api } from "./api.js";
import { showError } from "./ui.js";
import { fmt, h, pause, progressBar, TERMINAL, targetText } from "./util.js";

const POLL_MS = 1500;
const PAGE = 50;

// Screened jobs (issue 17) report how many crystals passed; show the column only when the API does.
function passedCount(job) {
  return job.screen ? `${job.screen.passed} (wanted ${job.num_samples})` : null;
}

// A screened job generates up to its budget; num_samples is the number of passing crystals wanted.
function generatedCount(job) {
  return job.screen ? `${job.screen.generated} (budget ${job.screen.max_generated})` : `${job.num_structures} / ${job.num_samples}`;
}

export async function cancelJob(job, after) {
  if (!confirm(`Cancel job ${job.id.slice(0, 8)}? Crystals already stored stay.`)) return;
  try {
    await api(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
    after();
  } catch (err) {
    showError(err);
  }
}

export async function watchView(view, _params, signal) {
  const stateFilter = h(
    "select",
    { id: "state-filter" },
    ["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s }, s || "all states")),
  );
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const table = h("table", { id: "jobs-table", class: "data" });
  let offset = 0;
  const prev = h("button", { type: "button", disabled: true }, "← newer");
  const next = h("button", { type: "button", disabled: true }, "older →");
  view.append(
    h("h2", {}, "Your jobs"),
    h("div", { class: "toolbar" }, h("label", { for: "state-filter" }, "Show "), stateFilter, prev, next, summary),
    table,
  );

  let wake = null;
  const refresh = () => wake && wake();
  stateFilter.addEventListener("change", () => ((offset = 0), refresh()));
  prev.addEventListener("click", () => ((offset = Math.max(0, offset - PAGE)), refresh()));
  next.addEventListener("click", () => ((offset += PAGE), refresh()));

  function draw(jobs, total) {
    const withPassed = jobs.some((j) => passedCount(j) !== null);
    const head = h(
      "tr",
      {},
      ["Submitted", "Job", "Target", "Model", "State", "Progress", "Generated"].map((t) => h("th", { scope: "col" }, t)),
      withPassed ? h("th", { scope: "col", title: "screened jobs: crystals that passed the screen" }, "Passed") : null,
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
    );
    const rows = jobs.map((job) =>
      h(
        "tr",
        { "data-job": job.id, "data-state": job.state },
        h("td", {}, new Date(job.timings.created_at).toLocaleString()),
        h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.id.slice(0, 8))),
        h("td", {}, targetText(job.target)),
        h("td", {}, job.model),
        h("td", {}, h("span", { class: `state ${job.state}` }, job.state), job.error ? h("small", { class: "bad" }, ` ${job.error}`) : null),
        h("td", {}, progressBar(job)),
        h("td", { class: "num" }, generatedCount(job)),
        withPassed ? h("td", { class: "num" }, fmt(passedCount(job))) : null,
        h(
          "td",
          {},
          TERMINAL.has(job.state)
            ? h("a", { href: `#/jobs/${job.id}` }, "Inspect")
            : h("button", { type: "button", onclick: () => cancelJob(job, refresh) }, "Cancel"),
        ),
      ),
    );
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
    summary.textContent = total ? `${offset + 1}–${offset + jobs.length} of ${total} · updated ${new Date().toLocaleTimeString()}` : "no jobs yet — design one";
    prev.disabled = offset === 0;
    next.disabled = offset + jobs.length >= total;
  }

  while (!signal.aborted) {
    try {
      const state = stateFilter.value ? `&state=${stateFilter.value}` : "";
      const env = await api(`/v1/jobs?limit=${PAGE}&offset=${offset}${state}`, { signal });
      draw(env.data, env.meta.total);
    } catch (err) {
      showError(err);
    }
    await Promise.race([pause(POLL_MS, signal), new Promise((resolve) => (wake = resolve))]);
  }
}
