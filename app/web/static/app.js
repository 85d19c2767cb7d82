// STT Gateway page: upload + transcript, live captions over the WebSocket, jobs.
// Dependency-free; talks to the public API (/v1/...) of the server that served it.
"use strict";

const $ = (id) => document.getElementById(id);
const API = location.origin;
const KEY_STORE = "stt-api-key"; // sessionStorage: gone when the tab closes

// -- API helpers ------------------------------------------------------------------------
function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    ...options,
    headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) {
        message = body.error.message + (body.error.code ? ` (${body.error.code})` : "");
      }
    } catch (_) { /* not the gateway's envelope */ }
    throw new Error(message);
  }
  return response;
}

// -- formatting -------------------------------------------------------------------------
function stamp(seconds, sep = ".") {
  const ms = Math.round(seconds * 1000);
  const h = String(Math.floor(ms / 3600000)).padStart(2, "0");
  const m = String(Math.floor(ms / 60000) % 60).padStart(2, "0");
  const s = String(Math.floor(ms / 1000) % 60).padStart(2, "0");
  return `${h}:${m}:${s}${sep}${String(ms % 1000).padStart(3, "0")}`;
}

function short(seconds) {
  return `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;
}

function cueText(seg) { return (seg.speaker ? `${seg.speaker}: ` : "") + seg.text.trim(); }

const RENDER = {
  txt: (t) => (t.segments || []).map(cueText).join("\n") || t.text,
  srt: (t) => t.segments.map((s, i) =>
    `${i + 1}\n${stamp(s.start, ",")} --> ${stamp(s.end, ",")}\n${cueText(s)}\n`).join("\n"),
  vtt: (t) => "WEBVTT\n\n" + t.segments.map((s) =>
    `${stamp(s.start)} --> ${stamp(s.end)}\n${cueText(s)}\n`).join("\n"),
  json: (t) => JSON.stringify(t, null, 2),
};

// -- tabs (WAI-ARIA tabs: arrow keys move between them) -----------------------------------
const tabs = [...document.querySelectorAll('[role="tab"]')];

function selectTab(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  tab.focus();
}

tabs.forEach((tab, i) => {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (e) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (step) selectTab(tabs[(i + step + tabs.length) % tabs.length]);
  });
});

// -- settings: API key, auth probe, models ------------------------------------------------
async function probe() {
  try {
    const response = await api("/v1/models");
    const models = (await response.json()).data.map((m) => m.id);
    for (const select of document.querySelectorAll(".model-select")) {
      select.replaceChildren(...models.map((id) => new Option(id, id, false, id === "whisper-1")));
    }
    $("auth-state").textContent = apiKey() ? "key accepted" : "";
    showError("");
  } catch (err) {
    $("auth-state").textContent = "API key required";
    showError(err.message);
  }
}

$("api-key").value = apiKey();
$("settings").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
  probe();
});

// -- transcribe: drop a file, see and play the transcript --------------------------------
let file = null;
let transcript = null;

function chooseFile(f) {
  file = f;
  $("drop-text").textContent = f ? `${f.name} (${Math.round(f.size / 1024)} KiB)` : "";
  $("transcribe").disabled = !f;
}

const drop = $("drop");
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
});
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
});
$("file").addEventListener("change", () => chooseFile($("file").files[0] || null));

function showTranscript(result, audio) {
  transcript = result;
  $("result").hidden = false;
  const player = $("player");
  player.hidden = !audio;
  if (audio) player.src = URL.createObjectURL(audio);
  const speakers = result.speakers ? `, ${result.speakers} speakers` : "";
  $("result-meta").textContent =
    `${result.language || ""} ${short(result.duration || 0)}${speakers}`;
  $("segments").replaceChildren(...(result.segments || []).map((seg) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.start = seg.start;
    const time = Object.assign(document.createElement("span"),
      { className: "time", textContent: short(seg.start) });
    button.append(time);
    if (seg.speaker) {
      button.append(Object.assign(document.createElement("span"),
        { className: "speaker", textContent: seg.speaker }));
    }
    button.append(seg.text.trim());
    if (seg.emotion) {
      button.append(Object.assign(document.createElement("span"), {
        className: "emotion",
        textContent: `${seg.emotion.label} ${Math.round(seg.emotion.score * 100)}%`,
      }));
    }
    button.addEventListener("click", () => {
      if (!audio) return;
      player.currentTime = seg.start;
      player.play().catch(() => {});
    });
    li.append(button);
    return li;
  }));
}

$("player").addEventListener("timeupdate", () => {
  const now = $("player").currentTime;
  for (const li of $("segments").children) {
    const start = Number(li.firstChild.dataset.start);
    const next = li.nextElementSibling;
    const end = next ? Number(next.firstChild.dataset.start) : Infinity;
    li.classList.toggle("playing", now >= start && now < end);
  }
});

// The Transcribe panel's options, for an upload and for a job alike (the gateway answers a
// combination it cannot do, e.g. channels on a mono file, with a 400 shown in the error bar).
function transcriptionFields(form) {
  const language = $("language").value.trim();
  const roles = $("roles").value.trim();
  if (language) form.append("language", language);
  if ($("diarize").checked) form.append("diarize", "true");
  if ($("multichannel").checked) form.append("multichannel", "true");
  if (roles) form.append("speaker_roles", roles);
  if ($("emotion").checked) form.append("emotion", "true");
}

$("upload-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("model", $("model").value || "whisper-1");
  form.append("response_format", "verbose_json");
  form.append("timestamp_granularities[]", "segment");
  transcriptionFields(form);
  $("transcribe").disabled = true;
  $("transcribe").textContent = "Transcribing…";
  try {
    const response = await api("/v1/audio/transcriptions", { method: "POST", body: form });
    showTranscript(await response.json(), file);
    showError("");
  } catch (err) {
    showError(err.message);
  } finally {
    $("transcribe").disabled = false;
    $("transcribe").textContent = "Transcribe";
  }
});

$("download").addEventListener("click", () => {
  if (!transcript) return;
  const fmt = $("format").value;
  const blob = new Blob([RENDER[fmt](transcript)], {
    type: fmt === "json" ? "application/json" : "text/plain",
  });
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(blob),
    download: `${(file && file.name.replace(/\.[^.]+$/, "")) || "transcript"}.${fmt}`,
  });
  document.body.append(link);
  link.click();
  link.remove();
});

// -- live captions: AudioWorklet -> PCM16 -> the gateway's WebSocket ---------------------
const live = { ws: null, ctx: null, stream: null, paused: false };

function liveState(text) { $("live-state").textContent = text; }

function setPartial(stable, unstable) {
  const p = $("partial");
  p.querySelector(".stable").textContent = stable;
  p.querySelector(".unstable").textContent = unstable;
}

function onLiveEvent(event) {
  if (event.type === "start") liveState("listening");
  else if (event.type === "partial") setPartial(event.stable_text, event.unstable_text);
  else if (event.type === "final") {
    setPartial("", "");
    $("finals").append(Object.assign(document.createElement("p"),
      { className: "final", textContent: event.segment.text }));
  } else if (event.type === "error") {
    showError(event.message + (event.code ? ` (${event.code})` : ""));
  } else if (event.type === "end") liveState("stopped");
}

async function liveStart() {
  showError("");
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError(`Microphone unavailable: ${err.message}`);
    return;
  }
  live.ctx = new AudioContext();
  await live.ctx.audioWorklet.addModule("static/pcm-worklet.js");
  const source = live.ctx.createMediaStreamSource(live.stream);
  const node = new AudioWorkletNode(live.ctx, "pcm-capture");
  const ws = new WebSocket(API.replace(/^http/, "ws") + "/v1/audio/stream/transcribe");
  ws.binaryType = "arraybuffer";
  live.ws = ws;
  ws.onopen = () => {
    if (apiKey()) ws.send(JSON.stringify({ type: "auth", token: apiKey() }));
    const start = { type: "start", model: $("live-model").value || "whisper-1",
      sample_rate: live.ctx.sampleRate, encoding: "pcm16" };
    if ($("live-language").value.trim()) start.language = $("live-language").value.trim();
    ws.send(JSON.stringify(start));
    node.port.onmessage = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(m.data); };
    source.connect(node);
  };
  ws.onmessage = (m) => onLiveEvent(JSON.parse(m.data));
  ws.onclose = (e) => {
    liveCleanup();
    if (e.code !== 1000 && e.reason) showError(`Live session closed: ${e.reason}`);
  };
  liveState("connecting");
  $("live-start").disabled = true;
  $("live-pause").disabled = false;
  $("live-stop").disabled = false;
}

function liveCleanup() {
  if (live.stream) live.stream.getTracks().forEach((t) => t.stop());
  if (live.ctx) live.ctx.close();
  Object.assign(live, { ws: null, ctx: null, stream: null, paused: false });
  $("live-start").disabled = false;
  $("live-pause").disabled = true;
  $("live-pause").textContent = "Pause";
  $("live-stop").disabled = true;
  if ($("live-state").textContent !== "stopped") liveState("idle");
}

$("live-start").addEventListener("click", liveStart);
$("live-pause").addEventListener("click", () => {
  if (!live.ws) return;
  live.paused = !live.paused;
  live.ws.send(JSON.stringify({ type: live.paused ? "pause" : "resume" }));
  $("live-pause").textContent = live.paused ? "Resume" : "Pause";
  liveState(live.paused ? "paused" : "listening");
});
$("live-stop").addEventListener("click", () => {
  if (live.ws && live.ws.readyState === WebSocket.OPEN) {
    live.ws.send(JSON.stringify({ type: "stop" }));
    liveState("finishing");
  }
});

// -- jobs: submit, follow progress (job events stream, else polling), open ---------------
const jobs = new Map(); // id -> { row, audio }

function jobRow(job, audio) {
  let entry = jobs.get(job.id);
  if (!entry) {
    const row = document.createElement("tr");
    row.dataset.job = job.id;
    row.innerHTML = "<td></td><td class=status></td><td><progress max=1></progress></td><td></td>";
    row.cells[0].textContent = job.id;
    $("jobs").tBodies[0].prepend(row);
    entry = { row, audio };
    jobs.set(job.id, entry);
  }
  const { row } = entry;
  row.cells[1].textContent = job.status + (job.error ? `: ${job.error.message}` : "");
  const bar = row.querySelector("progress");
  bar.value = job.status === "succeeded" ? 1 : (job.progress ? job.progress.fraction : 0);
  bar.setAttribute("aria-label", `progress of job ${job.id}`);
  if (job.status === "succeeded" && !row.cells[3].firstChild) {
    const open = Object.assign(document.createElement("button"),
      { type: "button", textContent: "Open" });
    open.addEventListener("click", () => openJob(job.id));
    row.cells[3].append(open);
  }
  return ["succeeded", "failed", "cancelled", "dead"].includes(job.status);
}

// Job events (SSE) only say that something changed: each one re-reads the job, so the page
// does not depend on the events' payloads. Without EventSource, or when the stream fails
// (it cannot send an API key header), the page polls.
const JOB_EVENTS = ["job", "status", "progress", "chunk", "done", "message"];

function follow(id) {
  let busy = false;
  const refresh = async () => {
    const job = await (await api(`/v1/audio/jobs/${id}`)).json();
    return jobRow(job);
  };
  const poll = async () => {
    try {
      if (!(await refresh())) setTimeout(poll, 1000);
    } catch (err) {
      showError(err.message);
    }
  };
  if (apiKey() || !window.EventSource) { poll(); return; }
  const source = new EventSource(`${API}/v1/audio/jobs/${id}/events`);
  const changed = async () => {
    if (busy) return;
    busy = true;
    try {
      if (await refresh()) source.close();
    } catch (err) {
      showError(err.message);
    } finally {
      busy = false;
    }
  };
  for (const name of JOB_EVENTS) source.addEventListener(name, changed);
  source.onerror = () => { source.close(); poll(); };
}

async function openJob(id) {
  try {
    const job = await (await api(`/v1/audio/jobs/${id}?response_format=verbose_json`)).json();
    showTranscript(job.result, jobs.get(id).audio);
    selectTab($("tab-transcribe"));
  } catch (err) {
    showError(err.message);
  }
}

$("job-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const upload = $("job-file").files[0];
  const url = $("job-url").value.trim();
  const model = $("model").value || "whisper-1";
  let options;
  if (upload) {
    const form = new FormData();
    form.append("file", upload);
    form.append("model", model);
    transcriptionFields(form);
    options = { method: "POST", body: form };
  } else if (url) {
    const fields = new FormData();
    transcriptionFields(fields);
    options = { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url, model, ...Object.fromEntries(fields) }) };
  } else {
    showError("Choose a file or enter a URL for the job.");
    return;
  }
  try {
    const job = await (await api("/v1/audio/jobs", options)).json();
    showError("");
    jobRow(job, upload || null);
    follow(job.id);
    $("job-form").reset();
  } catch (err) {
    showError(err.message);
  }
});

probe();
