// Watch: this key's jobs, newest first. The list comes from GET /v1/jobs; each unfinished job on the
// page follows its Server-Sent Events stream (GET /v1/jobs/{id}/events) where the API has one. A job
// without a stream (no such route, a failed stream, more jobs than MAX_STREAMS) is refreshed by
// polling the list, as every client can.

import { api, eventStream } from "./api.js";
import { capabilities, showError } from "./ui.js";
import { fmt, h, pause, progressBar, TERMINAL, targetText } from "./util.js";

const POLL_MS = 1500;
// With every unfinished job streamed, the list is only re-read to notice new jobs.
const STREAMED_POLL_MS = 10000;
// Browsers open about 6 HTTP/1.1 connections per host and a stream holds one: leave room for the
// page's own requests.
const MAX_STREAMS = 4;
// After a stream fails, its job is polled this long before a stream is tried again.
const STREAM_BACKOFF_MS = 30000;
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
  const caps = await capabilities().catch(() => ({}));
  const eventsPath = caps.job_events || null; // e.g. "/v1/jobs/{job_id}/events"; null: poll only
  const streams = new Map(); // job id → AbortController of its open stream
  const lastEventIds = new Map(); // job id → id of the last event received (resume after a reconnect)
  const streamFailedAt = new Map(); // job id → when its stream last failed
  const eventCounts = new Map(); // job id → events received (the row's data-sse-events)
  let withPassedColumn = false;
  stateFilter.addEventListener("change", () => ((offset = 0), refresh()));
  prev.addEventListener("click", () => ((offset = Math.max(0, offset - PAGE)), refresh()));
  next.addEventListener("click", () => ((offset += PAGE), refresh()));

  // How a row's job is kept current: "sse" once its stream delivered, "poll" otherwise (unfinished).
  function liveMode(job) {
    if (eventCounts.has(job.id) && (streams.has(job.id) || TERMINAL.has(job.state))) return "sse";
    return TERMINAL.has(job.state) ? null : "poll";
  }

  function row(job, withPassed) {
    return h(
      "tr",
      {
        "data-job": job.id,
        "data-state": job.state,
        "data-live": liveMode(job),
        "data-sse-events": eventCounts.get(job.id) ?? null,
        title: liveMode(job) === "sse" ? "live progress (event stream)" : null,
      },
      h("td", {}, new Date(job.timings.created_at).toLocaleString()),
      h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.id.slice(0, 8))),
      h("td", {}, targetText(job.target)),
      h("td", {}, job.model),
      h(
        "td",
        {},
        h("span", { class: `state ${job.state}` }, job.state),
        job.error ? h("small", { class: "bad" }, ` ${job.error}`) : null,
        liveMode(job) === "sse" && !TERMINAL.has(job.state) ? h("small", { class: "live muted" }, " ● live") : null,
      ),
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
    );
  }

  // An event from a job's stream: redraw that row only.
  function onStreamJob(job) {
    eventCounts.set(job.id, (eventCounts.get(job.id) || 0) + 1);
    const old = table.querySelector(`tr[data-job="${job.id}"]`);
    if (old) old.replaceWith(row(job, withPassedColumn || passedCount(job) !== null));
  }

  async function follow(id) {
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal.addEventListener("abort", stop);
    streams.set(id, controller);
    const path = eventsPath.replace("{job_id}", id);
    const opened = Date.now();
    try {
      let ended = false;
      for await (const event of eventStream(path, { signal: controller.signal, lastEventId: lastEventIds.get(id) })) {
        if (event.id) lastEventIds.set(id, event.id);
        if (event.event === "job" || event.event === "end") onStreamJob(JSON.parse(event.data));
        if (event.event === "end" || event.event === "gone") {
          ended = true;
          break;
        }
      }
      // Closed without an end: the server bounds a stream's life, and the list refresh below reopens
      // it; one that closes at once is treated as failed, so a broken proxy cannot make a busy loop.
      if (!ended && Date.now() - opened < 5000) streamFailedAt.set(id, Date.now());
    } catch (err) {
      if (err.name !== "AbortError") streamFailedAt.set(id, Date.now()); // fall back to polling
    } finally {
      signal.removeEventListener("abort", stop);
      streams.delete(id);
      const tr = table.querySelector(`tr[data-job="${id}"]`);
      if (tr && !TERMINAL.has(tr.dataset.state)) tr.dataset.live = "poll";
      if (!controller.signal.aborted) refresh(); // poll at the short interval, or reopen the stream
    }
  }

  // Streams for the unfinished jobs on this page (up to MAX_STREAMS); streams of jobs no longer shown stop.
  function syncStreams(jobs) {
    if (!eventsPath) return;
    const shown = new Set(jobs.map((j) => j.id));
    for (const [id, controller] of streams) if (!shown.has(id)) controller.abort();
    for (const job of jobs) {
      if (streams.size >= MAX_STREAMS) break;
      if (TERMINAL.has(job.state) || streams.has(job.id)) continue;
      if (Date.now() - (streamFailedAt.get(job.id) || -Infinity) < STREAM_BACKOFF_MS) continue;
      follow(job.id);
    }
  }

  function draw(jobs, total) {
    const withPassed = jobs.some((j) => passedCount(j) !== null);
    withPassedColumn = withPassed;
    const head = h(
      "tr",
      {},
      ["Submitted", "Job", "Target", "Model", "State", "Progress", "Generated"].map((t) => h("th", { scope: "col" }, t)),
      withPassed ? h("th", { scope: "col", title: "screened jobs: crystals that passed the screen" }, "Passed") : null,
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
    );
    const rows = jobs.map((job) => row(job, withPassed));
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
    summary.textContent = total ? `${offset + 1}–${offset + jobs.length} of ${total} · updated ${new Date().toLocaleTimeString()}` : "no jobs yet — design one";
    prev.disabled = offset === 0;
    next.disabled = offset + jobs.length >= total;
  }

  while (!signal.aborted) {
    let jobs = [];
    try {
      const state = stateFilter.value ? `&state=${stateFilter.value}` : "";
      const env = await api(`/v1/jobs?limit=${PAGE}&offset=${offset}${state}`, { signal });
      jobs = env.data;
      draw(jobs, env.meta.total);
      syncStreams(jobs);
    } catch (err) {
      if (err.name !== "AbortError") showError(err);
    }
    const allStreamed = jobs.every((j) => TERMINAL.has(j.state) || streams.has(j.id));
    await Promise.race([pause(allStreamed ? STREAMED_POLL_MS : POLL_MS, signal), new Promise((resolve) => (wake = resolve))]);
  }
}
