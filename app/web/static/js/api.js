// The public /v1 API with the user's key. Every error becomes an ApiError carrying the API's own
// messages from the {data, meta, errors} envelope, so the page shows what the server said.

const KEY = "mattergen-e.apiKey";

export const getKey = () => localStorage.getItem(KEY) || "";
export function setKey(key) {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, errors) {
    const text = errors.map((e) => e.message).join("; ") || `HTTP ${status}`;
    super(status ? `${status}: ${text}` : text);
    this.status = status;
    this.errors = errors;
  }
}

export async function api(path, { method = "GET", body, headers = {}, raw = false, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  const key = getKey();
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, [{ code: "network", message: `cannot reach the server (${err.message})` }]);
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    let errors = [{ code: "http", message: response.statusText || "request failed" }];
    if (type.includes("json")) {
      const envelope = await response.json().catch(() => null);
      if (envelope && envelope.errors && envelope.errors.length) errors = envelope.errors;
    }
    const retry = response.headers.get("retry-after");
    if (retry) errors = [...errors, { code: "retry_after", message: `retry after ${retry} s` }];
    throw new ApiError(response.status, errors);
  }
  if (raw) return response;
  return type.includes("json") ? response.json() : response.text();
}

// Downloads need the Authorization header, so a plain <a href> cannot fetch them: fetch, then save
// the blob under the server's filename.
export async function download(path, fallbackName) {
  const response = await api(path, { raw: true });
  const blob = await response.blob();
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 30000);
}

// Server-Sent Events read with fetch and a ReadableStream reader: EventSource cannot send the
// Authorization header. Yields {event, id, data} per event until the server closes the stream (a 204
// answer yields nothing); an HTTP error is an ApiError like any other call's.
export async function* eventStream(path, { signal, lastEventId } = {}) {
  const headers = { Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await api(path, { headers, raw: true, signal });
  if (response.status === 204) return;
  if (!(response.headers.get("content-type") || "").startsWith("text/event-stream") || !response.body) {
    throw new ApiError(response.status, [{ code: "not_a_stream", message: "the server did not answer with an event stream" }]);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", id: null, data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop(); // an incomplete last line waits for the next chunk
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) yield { event: event.event, id: event.id, data: event.data.join("\n") };
          event = { event: "message", id: event.id, data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = text;
        else if (field === "id") event.id = text;
        else if (field === "data") event.data.push(text);
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // closes the connection when the caller stops early
  }
}
