// Reelstack's web page: what the mobile apps do, against the same public API.
// Sign in with a token (#token=... in the URL, or pasted), upload with presigned multipart URLs,
// watch the library update while the pipeline runs, play with hls.js, rename, share, delete; and the
// feed of everyone's public videos.
"use strict";

const API = location.origin + location.pathname.replace(/\/$/, "");
const PARALLEL_PARTS = 3;
const $ = (id) => document.getElementById(id);
let token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("reelstack-token") || "";
let hls = null;
let shownPipeline = null;
// The graph last drawn and whether its execution still runs: an ended execution is not asked for
// again, and an unchanged graph is not redrawn (that would flicker, and lose a zoom or selection).
let drawnPipeline = null;
let pipelineRunning = false;

async function api(method, path, body) {
  const response = await fetch(API + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const document = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(document?.error ? `${document.error.code}: ${document.error.message}` : response.status);
  return document;
}

function signIn(value) {
  token = value.trim();
  sessionStorage.setItem("reelstack-token", token);
  try {
    $("who").textContent = `signed in as ${JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub}`;
  } catch {
    $("who").textContent = "";
  }
  $("send").disabled = !token;
  refresh();
}

// -- upload: presigned multipart, parts in parallel, progress from XHR ----------------------------

function putPart(part, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", part.url);
    for (const [name, value] of Object.entries(part.headers || {})) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () =>
      request.status === 200 ? resolve(request.getResponseHeader("ETag")) : reject(new Error(`part ${part.partNumber}: ${request.status}`));
    request.onerror = () => reject(new Error(`part ${part.partNumber}: network error`));
    request.send(blob);
  });
}

async function upload(file) {
  const status = $("upload-status");
  status.textContent = "starting";
  const created = await api("POST", "/uploads", {
    filename: file.name,
    size: file.size,
    contentType: file.type || "application/octet-stream", // the pipeline reads the file to tell what it is
    title: file.name.replace(/\.[^.]+$/, ""),
  });
  const urls = new Map(created.parts.map((part) => [part.partNumber, part]));
  const pending = Array.from({ length: created.partCount }, (_, index) => index + 1);
  const loaded = new Map();
  const etags = [];
  const showProgress = () => {
    const done = [...loaded.values()].reduce((sum, bytes) => sum + bytes, 0);
    $("progress").value = done / file.size;
    status.textContent = `${(done / 2 ** 20).toFixed(1)} of ${(file.size / 2 ** 20).toFixed(1)} MiB`;
  };
  async function worker() {
    while (pending.length) {
      const number = pending.shift();
      if (!urls.has(number)) {
        const more = await api("POST", `/uploads/${created.uploadId}/parts`, { partNumbers: [number] });
        more.parts.forEach((part) => urls.set(part.partNumber, part));
      }
      const part = urls.get(number);
      const blob = file.slice(part.offset, part.offset + part.size);
      const etag = await putPart(part, blob, (bytes) => { loaded.set(number, bytes); showProgress(); });
      etags.push({ partNumber: number, etag });
    }
  }
  await Promise.all(Array.from({ length: PARALLEL_PARTS }, worker));
  etags.sort((a, b) => a.partNumber - b.partNumber);
  const done = await api("POST", `/uploads/${created.uploadId}/complete`, { parts: etags });
  status.textContent = `uploaded: asset ${done.assetId} is ${done.status}`;
  refresh();
}

// -- library -------------------------------------------------------------------------------------

function assetCard(asset) {
  const item = document.createElement("li");
  item.className = "asset";
  item.dataset.assetId = asset.assetId;
  item.dataset.status = asset.status;
  // The animated preview where there is one (feeds show it moving), else the poster.
  const poster = asset.previews?.animated || asset.thumbnails?.poster;
  const picture = poster ? document.createElement("img") : document.createElement("div");
  if (poster) { picture.src = poster; picture.alt = ""; } else { picture.className = "blank"; }
  const info = document.createElement("div");
  info.className = "info";
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = asset.title || asset.source?.filename || asset.assetId;
  const state = document.createElement("span");
  state.className = `status ${asset.status}`;
  state.textContent = asset.status + (asset.step ? ` (${asset.step})` : "")
    + (asset.playable && asset.status !== "ready" ? " · playable" : "");
  info.append(title, state);
  // Why it failed, or what could not be made, in the pipeline's own sentence.
  const notes = asset.error ? [asset.error] : asset.warnings || [];
  for (const note of notes) {
    const line = document.createElement("div");
    line.className = asset.error ? "reason failed" : "reason warning";
    line.dataset.code = note.code;
    line.textContent = note.message;
    line.title = note.code;
    info.append(line);
  }
  info.append(document.createElement("br"));
  const button = (label, action) => {
    const element = document.createElement("button");
    element.textContent = label;
    element.dataset.action = label.toLowerCase();
    element.onclick = () => action(asset).catch((error) => alert(error.message));
    info.append(element);
  };
  if (asset.playable) button("Play", play); // before it is ready too: the playlists grow as it encodes
  button("Rename", rename);
  button(asset.visibility === "public" ? "Make private" : "Make public", toggleVisibility);
  if (asset.visibility === "public" && asset.status === "ready") info.append(shareLink(asset));
  if (asset.status === "ready" && asset.thumbnails?.storyboard) button("Cover", pickCover);
  button("Delete", remove);
  button("Pipeline", (chosen) => showPipeline(chosen.assetId));
  item.append(picture, info);
  return item;
}

// The cover picker: the storyboard's tiles (its WebVTT cues point into the sprite sheet); a click
// makes the frame at that tile's moment the poster (PATCH posterTime; rendered server-side).
async function pickCover(asset) {
  const card = document.querySelector(`li.asset[data-asset-id="${asset.assetId}"]`);
  const cues = await (await fetch(asset.thumbnails.storyboard.vtt)).text();
  const strip = document.createElement("div");
  strip.className = "cover-picker";
  const cue = /(\d+):(\d+):(\d+\.\d+) --> [^\n]+\n[^#\n]+#xywh=(\d+),(\d+),(\d+),(\d+)/g;
  for (const [, hours, minutes, rest, x, y, width, height] of cues.matchAll(cue)) {
    const seconds = Number(hours) * 3600 + Number(minutes) * 60 + Number(rest);
    const tile = document.createElement("button");
    tile.className = "tile";
    tile.dataset.seconds = seconds;
    tile.title = `cover at ${seconds} s`;
    tile.style.cssText = `width:${width}px;height:${height}px;`
      + `background:url("${asset.thumbnails.storyboard.image}") -${x}px -${y}px`;
    tile.onclick = () => api("PATCH", `/assets/${asset.assetId}`, { posterTime: seconds })
      .then(() => { strip.remove(); $("upload-status").textContent = `cover at ${seconds} s: on its way`; })
      .catch((error) => alert(error.message));
    strip.append(tile);
  }
  card.querySelector(".cover-picker")?.remove();
  card.append(strip);
}

// What a card shows, and a five-minute tick so its signed picture URLs never go stale on screen.
const cardSignature = (asset) => JSON.stringify([
  asset.status, asset.step, asset.playable, asset.title, asset.visibility, asset.updatedAt, asset.error,
  asset.warnings, Boolean(asset.previews?.animated || asset.thumbnails?.poster), Math.floor(Date.now() / 300_000),
]);

async function refresh() {
  if (!token) return;
  const page = await api("GET", "/assets?limit=50");
  // A card is drawn anew only when what it shows changed: drawing every card at every poll reloaded
  // its picture, moved its buttons under the pointer (a click was lost) and closed an open cover picker.
  const shown = new Map([...$("library").children].map((card) => [card.dataset.assetId, card]));
  $("library").replaceChildren(...page.items.map((asset) => {
    const signature = cardSignature(asset);
    const kept = shown.get(asset.assetId);
    if (kept?.dataset.signature === signature) return kept;
    const card = assetCard(asset);
    card.dataset.signature = signature;
    return card;
  }));
  if (shownPipeline && pipelineRunning) showPipeline(shownPipeline);
}

async function play(asset) {
  const { hls: url } = await api("GET", `/assets/${asset.assetId}/playback`);
  $("player-section").hidden = false;
  $("player-section").scrollIntoView({ behavior: "smooth" }); // from far down the feed too
  $("now-playing").textContent = asset.title;
  const video = $("player");
  if (hls) hls.destroy();
  if (window.Hls && Hls.isSupported()) {
    hls = new Hls({ capLevelToPlayerSize: true }); // no 1080p decode for a 640 px player
    offerAudioTracks(hls, $("audio-track"));
    offerSubtitles(hls, $("subtitle-track"));
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url; // Safari plays HLS natively
  }
  await video.play().catch(() => {});
}

// A video with several audio tracks (languages, a commentary): a menu of them, the default chosen.
function offerAudioTracks(player, menu) {
  menu.hidden = true;
  player.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, { audioTracks }) => {
    menu.replaceChildren(...audioTracks.map((track, index) => new Option(track.name, index)));
    menu.value = String(player.audioTrack);
    menu.hidden = audioTracks.length < 2;
  });
  menu.onchange = () => { player.audioTrack = Number(menu.value); };
}

// Captions and subtitles (the asset's text tracks): a menu of them, off until one is chosen.
function offerSubtitles(player, menu) {
  menu.hidden = true;
  player.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, { subtitleTracks }) => {
    menu.replaceChildren(new Option("Subtitles off", -1),
      ...subtitleTracks.map((track, index) => new Option(track.name, index)));
    menu.value = String(player.subtitleTrack);
    menu.hidden = subtitleTracks.length === 0;
  });
  menu.onchange = () => { player.subtitleTrack = Number(menu.value); };
}

async function rename(asset) {
  const title = prompt("New title", asset.title);
  if (title === null) return;
  await api("PATCH", `/assets/${asset.assetId}`, { title });
  refresh();
}

async function toggleVisibility(asset) {
  await api("PATCH", `/assets/${asset.assetId}`, { visibility: asset.visibility === "public" ? "private" : "public" });
  refresh();
}

function shareLink(asset) {
  // The share page needs no sign-in: what a messenger's link preview reads.
  const link = document.createElement("a");
  link.className = "share";
  link.href = `${API}/watch/${asset.assetId}`;
  link.target = "_blank";
  link.textContent = "Share link";
  return link;
}

async function remove(asset) {
  if (!confirm(`Delete "${asset.title}"?`)) return;
  await api("DELETE", `/assets/${asset.assetId}`);
  if (shownPipeline === asset.assetId) { shownPipeline = null; $("pipeline-section").hidden = true; }
  refresh();
}

// -- the feed: everyone's public videos, their previews playing muted while they are in view ------

const inView = new IntersectionObserver((entries) => {
  for (const { target, isIntersecting } of entries) {
    if (isIntersecting) target.play().catch(() => {}); else target.pause();
  }
}, { threshold: 0.5 });
let feedCursor = null;

function duration(seconds) {
  const whole = Math.round(seconds || 0);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function feedCard(asset) {
  const item = document.createElement("li");
  item.className = "asset";
  item.dataset.assetId = asset.assetId;
  let picture;
  if (asset.previews?.video) {
    picture = document.createElement("video");
    Object.assign(picture, { muted: true, loop: true, playsInline: true, preload: "metadata", className: "preview" });
    picture.src = asset.previews.video;
    if (asset.thumbnails?.poster) picture.poster = asset.thumbnails.poster;
    inView.observe(picture);
  } else {
    picture = document.createElement(asset.thumbnails?.poster ? "img" : "div");
    if (asset.thumbnails?.poster) picture.src = asset.thumbnails.poster; else picture.className = "blank";
  }
  const info = document.createElement("div");
  info.className = "info";
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = asset.title || "Untitled";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${duration(asset.media?.durationSeconds)} · by ${asset.ownerId}`;
  const button = document.createElement("button");
  button.textContent = "Play";
  button.dataset.action = "play";
  button.onclick = () => play(asset).catch((error) => alert(error.message));
  info.append(title, meta, button, shareLink(asset));
  item.append(picture, info);
  return item;
}

async function showFeed(more = false) {
  if (!token) return;
  const cursor = more && feedCursor ? `&cursor=${encodeURIComponent(feedCursor)}` : "";
  const page = await api("GET", `/feed?limit=12${cursor}`);
  if (!more) inView.disconnect(); // the cards it watched are about to go
  const cards = page.items.map(feedCard);
  if (more) $("feed").append(...cards); else $("feed").replaceChildren(...cards);
  feedCursor = page.nextCursor;
  $("feed-more").hidden = !feedCursor;
}

function showTab(name) {
  for (const tab of document.querySelectorAll("#tabs button")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const section of document.querySelectorAll("main section[data-tab]")) {
    section.hidden = section.dataset.tab !== name || (section.id === "pipeline-section" && !shownPipeline);
  }
  if (name === "feed") showFeed().catch((error) => alert(error.message));
}

// -- the pipeline, drawn from the state machine's ASL with this asset's execution on it ------------

async function showPipeline(assetId) {
  shownPipeline = assetId;
  const report = await api("GET", `/assets/${assetId}/execution`);
  if (shownPipeline !== assetId) return; // another asset's Pipeline was pressed meanwhile
  pipelineRunning = ["NOT_STARTED", "RUNNING"].includes(report.executionStatus);
  $("pipeline-section").hidden = false;
  $("pipeline-status").textContent = `asset ${assetId}: execution ${report.executionStatus}`;
  if (report.svg === drawnPipeline) return;
  drawnPipeline = report.svg;
  // The API draws the graph (the same picture as docs/pipeline.svg); parsed as SVG, never as HTML.
  const picture = new DOMParser().parseFromString(report.svg, "image/svg+xml").documentElement;
  picture.removeAttribute("width"); picture.removeAttribute("height"); // scales to the section's width
  $("pipeline").replaceChildren(document.importNode(picture, true));
}

for (const tab of document.querySelectorAll("#tabs button")) tab.onclick = () => showTab(tab.dataset.tab);
$("feed-more").onclick = () => showFeed(true).catch((error) => alert(error.message));
$("signin").onsubmit = (event) => { event.preventDefault(); signIn($("token").value); };
// A URL instead of a file: the server fetches it (its card says uploading, then processing, or why it failed).
async function uploadFromUrl(url) {
  const created = await api("POST", "/uploads", { url });
  $("upload-status").textContent = `fetching: asset ${created.assetId}`;
  refresh();
}

$("send").onclick = () => {
  const file = $("file").files[0];
  const url = $("url").value.trim();
  const started = url ? uploadFromUrl(url) : file ? upload(file) : null;
  started?.catch((error) => { $("upload-status").textContent = `failed: ${error.message}`; });
};
if (token) signIn(token);
setInterval(() => refresh().catch(() => {}), 1500);
