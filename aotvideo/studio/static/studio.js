// aotvideo studio: the page. Plain browser JavaScript, no build step.
// The server keeps every mask; the page keeps the current frame's label map (one byte per
// pixel, the object id) to draw and to paint on, and sends each edit back as a PNG.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  project: null, frame: 0, labels: null, keyframe: false, image: null,
  object: null, tool: "box", view: "overlay", undo: [], job: null,
  zoom: 1, panX: 0, panY: 0, loading: 0, drag: null,
};

// ---- colours: the DAVIS palette, as the mask PNGs use it ----------------------------------------
function paletteColour(id) {
  let r = 0, g = 0, b = 0, c = id;
  for (let j = 0; j < 8; j++) {
    r |= ((c >> 0) & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return [r, g, b];
}
const css = (id) => `rgb(${paletteColour(id).join(",")})`;

// ---- talking to the server -------------------------------------------------------------------
function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind || "";
  box.hidden = false;
  clearTimeout(showMessage.timer);
  showMessage.timer = setTimeout(() => { box.hidden = true; }, kind === "info" ? 3000 : 8000);
}

async function api(method, path, body, type) {
  const options = { method, headers: {} };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    options.body = body;
    options.headers["Content-Type"] = type || "application/octet-stream";
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

async function attempt(work) {
  try { return await work(); } catch (error) { showMessage(error.message); return null; }
}

// ---- label maps <-> PNG ------------------------------------------------------------------------
async function decodeLabels(blob, width, height) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  const labels = new Uint8Array(width * height);
  for (let i = 0; i < labels.length; i++) labels[i] = rgba[i * 4];
  return labels;
}

async function encodeLabels(labels, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    image.data[i * 4] = v; image.data[i * 4 + 1] = v; image.data[i * 4 + 2] = v; image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas.convertToBlob({ type: "image/png" });
}

// ---- project and frames ------------------------------------------------------------------------
async function loadProject() {
  state.project = await (await api("GET", "/api/project")).json();
  const p = state.project;
  $("video-name").textContent = `${p.video} - ${p.width}x${p.height}, ${p.frames} frames`;
  $("scrub").max = p.frames - 1;
  $("frame-count").textContent = p.frames - 1;
  $("frame-number").max = p.frames - 1;
  state.keyframes = new Set(p.keyframes);
  state.presence = new Map(p.presence.map(([i, ids]) => [i, ids]));
  if (state.object === null || !p.objects.some((o) => o.id === state.object)) {
    state.object = p.objects.length ? p.objects[0].id : null;
  }
  if (p.job) showJob(p.job);
  renderObjects();
  drawTimeline();
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`frame ${src} could not be loaded`));
    image.src = src;
  });
}

async function fetchLabels(index) {
  const p = state.project;
  try {
    const response = await api("GET", `/api/frames/${index}/labels.png`);
    return await decodeLabels(await response.blob(), p.width, p.height);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

async function goTo(index) {
  const p = state.project;
  index = Math.max(0, Math.min(p.frames - 1, index | 0));
  state.frame = index;
  $("scrub").value = index;
  $("frame-number").value = index;
  const ticket = ++state.loading;
  const [image, labels] = await Promise.all([loadImage(`/api/frames/${index}.jpg`), fetchLabels(index)]);
  if (ticket !== state.loading) return; // a newer frame was asked for meanwhile
  state.image = image;
  state.labels = labels;
  state.keyframe = state.keyframes.has(index);
  $("frame-kind").textContent = state.keyframe ? "keyframe" : (labels ? "propagated" : "");
  draw();
  drawTimeline();
  document.body.dataset.frame = String(index);
}

async function refresh() {
  state.loading++;
  await goTo(state.frame);
}

// ---- drawing -----------------------------------------------------------------------------------
const picture = $("picture");
const pictureContext = picture.getContext("2d");

function draw() {
  const p = state.project;
  if (!p || !state.image) return;
  if (picture.width !== p.width) { picture.width = p.width; picture.height = p.height; fit(); }
  const w = p.width, h = p.height, labels = state.labels;
  if (state.view !== "matte") pictureContext.drawImage(state.image, 0, 0, w, h);
  const frame = pictureContext.getImageData(0, 0, w, h);
  const px = frame.data;
  const colours = new Map();
  const colour = (id) => { if (!colours.has(id)) colours.set(id, paletteColour(id)); return colours.get(id); };
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const id = labels ? labels[i] : 0;
      const o = i * 4;
      if (state.view === "matte") {
        const v = id ? 255 : 0; px[o] = v; px[o + 1] = v; px[o + 2] = v; px[o + 3] = 255;
        continue;
      }
      if (state.view === "alpha") {
        if (!id) {
          const v = ((x >> 4) + (y >> 4)) & 1 ? 200 : 150; px[o] = v; px[o + 1] = v; px[o + 2] = v;
        }
        continue;
      }
      if (!labels) continue;
      const edge = (x > 0 && labels[i - 1] !== id) || (x < w - 1 && labels[i + 1] !== id) ||
                   (y > 0 && labels[i - w] !== id) || (y < h - 1 && labels[i + w] !== id);
      if (edge && (id || state.view === "outlines")) {
        const c = colour(id || labels[i - 1] || labels[i + 1] || labels[i - w] || labels[i + w] || 0);
        px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2];
      } else if (id && state.view === "overlay") {
        const c = colour(id);
        px[o] = (px[o] + c[0]) >> 1; px[o + 1] = (px[o + 1] + c[1]) >> 1; px[o + 2] = (px[o + 2] + c[2]) >> 1;
      }
    }
  }
  pictureContext.putImageData(frame, 0, 0);
  if (state.drag && state.drag.tool === "box") {
    const d = state.drag;
    pictureContext.strokeStyle = state.object ? css(state.object) : "#fff";
    pictureContext.lineWidth = Math.max(1, 2 / state.zoom);
    pictureContext.strokeRect(d.x0, d.y0, d.x - d.x0, d.y - d.y0);
  }
}

function drawTimeline() {
  const canvas = $("timeline");
  const p = state.project;
  if (!p) return;
  const width = canvas.clientWidth || 600;
  canvas.width = width;
  const objects = p.objects;
  const rows = Math.max(1, objects.length);
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, canvas.height);
  const x = (i) => (i + 0.5) * width / p.frames;
  const rowHeight = (canvas.height - 14) / rows;
  objects.forEach((object, row) => {
    context.fillStyle = css(object.id);
    for (const [index, ids] of state.presence) {
      if (ids.includes(object.id)) {
        context.fillRect(Math.floor(index * width / p.frames), 12 + row * rowHeight,
                         Math.max(1, Math.ceil(width / p.frames)), rowHeight - 2);
      }
    }
  });
  context.fillStyle = "#ffcf4a";
  for (const k of state.keyframes) {
    context.beginPath();
    context.moveTo(x(k) - 4, 0); context.lineTo(x(k) + 4, 0); context.lineTo(x(k), 8);
    context.fill();
  }
  context.fillStyle = "#fff";
  context.fillRect(x(state.frame) - 1, 0, 2, canvas.height);
}

// ---- zoom and pan ------------------------------------------------------------------------------
function applyTransform() {
  $("stage").style.transform = `translate(${state.panX}px, ${state.panY}px) scale(${state.zoom})`;
}

function fit() {
  const wrap = $("stage-wrap");
  const p = state.project;
  if (!p) return;
  state.zoom = Math.min(wrap.clientWidth / p.width, wrap.clientHeight / p.height) || 1;
  state.panX = (wrap.clientWidth - p.width * state.zoom) / 2;
  state.panY = (wrap.clientHeight - p.height * state.zoom) / 2;
  applyTransform();
}

$("stage-wrap").addEventListener("wheel", (event) => {
  event.preventDefault();
  const rect = $("stage-wrap").getBoundingClientRect();
  const mx = event.clientX - rect.left, my = event.clientY - rect.top;
  const factor = event.deltaY < 0 ? 1.15 : 1 / 1.15;
  state.panX = mx - (mx - state.panX) * factor;
  state.panY = my - (my - state.panY) * factor;
  state.zoom *= factor;
  applyTransform();
}, { passive: false });

function picturePoint(event) {
  const rect = picture.getBoundingClientRect();
  return {
    x: (event.clientX - rect.left) * state.project.width / rect.width,
    y: (event.clientY - rect.top) * state.project.height / rect.height,
  };
}

// ---- editing -----------------------------------------------------------------------------------
function remember() {
  state.undo.push({ frame: state.frame, labels: state.labels ? state.labels.slice() : null,
                    keyframe: state.keyframe });
  if (state.undo.length > 50) state.undo.shift();
}

async function saveLabels() {
  const p = state.project;
  const blob = await encodeLabels(state.labels, p.width, p.height);
  await api("PUT", `/api/frames/${state.frame}/labels`, blob, "image/png");
}

async function undo() {
  const step = state.undo.pop();
  if (!step) { showMessage("nothing to undo", "info"); return; }
  const p = state.project;
  await attempt(async () => {
    if (step.labels === null) {
      await api("DELETE", `/api/frames/${step.frame}/labels`);
    } else {
      await api("PUT", `/api/frames/${step.frame}/labels`, await encodeLabels(step.labels, p.width, p.height), "image/png");
      if (!step.keyframe) await api("POST", `/api/frames/${step.frame}/keyframe`, { keyframe: false });
    }
  });
  await loadProject();
  await goTo(step.frame);
}

function paint(from, to) {
  const p = state.project;
  const radius = Number($("brush-size").value) / 2;
  const value = state.tool === "brush" ? state.object : 0;
  if (!state.labels) state.labels = new Uint8Array(p.width * p.height);
  const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / (radius / 2)));
  for (let s = 0; s <= steps; s++) {
    const cx = from.x + (to.x - from.x) * s / steps, cy = from.y + (to.y - from.y) * s / steps;
    for (let y = Math.max(0, Math.floor(cy - radius)); y <= Math.min(p.height - 1, Math.ceil(cy + radius)); y++) {
      for (let x = Math.max(0, Math.floor(cx - radius)); x <= Math.min(p.width - 1, Math.ceil(cx + radius)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= radius * radius) {
          const i = y * p.width + x;
          if (value || state.tool === "eraser") state.labels[i] = value;
        }
      }
    }
  }
}

function needObject() {
  if (state.object === null) { showMessage("add an object first (Add object)"); return false; }
  return true;
}

picture.addEventListener("contextmenu", (event) => event.preventDefault());
picture.addEventListener("pointerdown", (event) => {
  if (!state.project) return;
  const point = picturePoint(event);
  if (event.button === 1 || event.altKey) {
    state.drag = { tool: "pan", sx: event.clientX, sy: event.clientY, px: state.panX, py: state.panY };
  } else if (state.tool === "box" || state.tool === "brush" || state.tool === "eraser") {
    if (state.tool !== "eraser" && !needObject()) return;
    state.drag = { tool: state.tool, x0: point.x, y0: point.y, x: point.x, y: point.y, last: point };
    if (state.tool !== "box") { remember(); paint(point, point); draw(); }
  } else if (state.tool === "clicks") {
    if (!needObject()) return;
    const negative = event.button === 2 || event.shiftKey;
    remember();
    const body = { object: state.object, positive: negative ? [] : [[point.x, point.y]],
                   negative: negative ? [[point.x, point.y]] : [] };
    attempt(async () => {
      await api("POST", `/api/frames/${state.frame}/clicks`, body);
      state.keyframes.add(state.frame);
      await refresh();
    });
  }
  picture.setPointerCapture(event.pointerId);
});

picture.addEventListener("pointermove", (event) => {
  const d = state.drag;
  if (!d) return;
  if (d.tool === "pan") {
    state.panX = d.px + event.clientX - d.sx; state.panY = d.py + event.clientY - d.sy;
    applyTransform();
    return;
  }
  const point = picturePoint(event);
  d.x = point.x; d.y = point.y;
  if (d.tool === "brush" || d.tool === "eraser") { paint(d.last, point); d.last = point; }
  draw();
});

picture.addEventListener("pointerup", async () => {
  const d = state.drag;
  state.drag = null;
  if (!d || d.tool === "pan") return;
  if (d.tool === "box") {
    const box = [Math.min(d.x0, d.x), Math.min(d.y0, d.y), Math.max(d.x0, d.x), Math.max(d.y0, d.y)];
    if (box[2] - box[0] < 3 || box[3] - box[1] < 3) { draw(); return; }
    remember();
    await attempt(async () => {
      await api("POST", `/api/frames/${state.frame}/box`, { object: state.object, box });
      state.keyframes.add(state.frame);
    });
    await refresh();
    return;
  }
  await attempt(async () => { await saveLabels(); state.keyframes.add(state.frame); });
  await refresh();
});

// ---- objects -----------------------------------------------------------------------------------
function renderObjects() {
  const list = $("objects");
  list.replaceChildren();
  for (const object of state.project.objects) {
    const item = document.createElement("li");
    item.dataset.id = object.id;
    if (object.id === state.object) item.classList.add("selected");
    const swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = css(object.id);
    const name = document.createElement("span");
    name.className = "name"; name.textContent = `${object.id} ${object.name}`;
    name.title = "double-click to rename";
    const remove = document.createElement("button");
    remove.className = "remove"; remove.textContent = "\u00d7"; remove.title = "remove the object from every frame";
    item.append(swatch, name, remove);
    item.addEventListener("click", () => { state.object = object.id; renderObjects(); });
    name.addEventListener("dblclick", async () => {
      const wanted = prompt("Name of the object", object.name);
      if (wanted) await attempt(() => api("PATCH", `/api/objects/${object.id}`, { name: wanted }));
      await loadProject();
    });
    remove.addEventListener("click", async (event) => {
      event.stopPropagation();
      if (!confirm(`Remove ${object.name} from every frame?`)) return;
      await attempt(() => api("DELETE", `/api/objects/${object.id}`));
      await loadProject(); await refresh();
    });
    list.append(item);
  }
}

$("add-object").addEventListener("click", async () => {
  const response = await attempt(() => api("POST", "/api/objects", {}));
  if (response) state.object = (await response.json()).id;
  await loadProject();
});

$("import").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  remember();
  await attempt(() => api("POST", `/api/frames/${state.frame}/import`, file, file.type || "image/png"));
  event.target.value = "";
  await loadProject(); await refresh();
});

$("toggle-keyframe").addEventListener("click", toggleKeyframe);
async function toggleKeyframe() {
  await attempt(() => api("POST", `/api/frames/${state.frame}/keyframe`, { keyframe: !state.keyframe }));
  await loadProject(); await refresh();
}

// ---- propagation, export, events ---------------------------------------------------------------
async function propagate(direction) {
  const stop = direction === "forward" ? $("out-point").value : $("in-point").value;
  const body = { frame: state.frame, direction, stop_at_keyframe: $("stop-at-keyframe").checked,
                 stop: stop === "" ? null : Number(stop) };
  const response = await attempt(() => api("POST", "/api/propagate", body));
  if (response) showJob(await response.json());
}

function showJob(job) {
  state.job = job;
  const active = job.state === "running" || job.state === "paused";
  $("pause").disabled = !active; $("cancel").disabled = !active;
  $("pause").textContent = job.state === "paused" ? "Resume" : "Pause";
  const fps = job.detail && job.detail.fps ? `, ${job.detail.fps} frames/s` : "";
  $("job").textContent = `${job.kind}: ${job.state} ${job.done}/${job.total}${fps}${job.message ? " - " + job.message : ""}`;
  document.body.dataset.job = `${job.kind}:${job.state}`;
  if (job.kind === "export" && job.state === "done") {
    const name = job.output.split("/").pop();
    $("export-result").innerHTML = "";
    if (job.detail.mode !== "masks") {
      const link = document.createElement("a");
      link.href = `/api/exports/${encodeURIComponent(name)}`; link.textContent = `download ${name}`;
      $("export-result").append(link);
    } else {
      $("export-result").textContent = job.output;
    }
  }
  if (job.state === "failed") showMessage(`${job.kind} failed: ${job.message}`);
}

function follow(events) {
  const source = new EventSource(`/api/events?after=${events}`);
  let pending = null;
  source.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "propagated") {
      state.presence.set(event.index, event.ids);
      if (state.job) { state.job.done = event.done; showJob(state.job); }
      if ($("follow").checked) {
        pending = event.index;
        if (!follow.busy) {
          follow.busy = true;
          while (pending !== null) { const i = pending; pending = null; await goTo(i).catch(() => {}); }
          follow.busy = false;
        }
      } else if (event.index === state.frame) {
        refresh();
      }
      drawTimeline();
    } else if (event.type === "job") {
      showJob(event);
      if (event.state !== "running" && event.state !== "paused") { await loadProject(); await refresh(); }
    } else if (event.type === "objects") {
      await loadProject();
    } else if (event.type === "mask" && event.index === state.frame && !state.drag) {
      if (event.keyframe) state.keyframes.add(event.index); else state.keyframes.delete(event.index);
    }
  };
}

$("propagate-forward").addEventListener("click", () => propagate("forward"));
$("propagate-backward").addEventListener("click", () => propagate("backward"));
$("pause").addEventListener("click", () => attempt(() => api("POST", `/api/job/${state.job && state.job.state === "paused" ? "resume" : "pause"}`, {})));
$("cancel").addEventListener("click", () => attempt(() => api("POST", "/api/job/cancel", {})));
$("export").addEventListener("click", async () => {
  const response = await attempt(() => api("POST", "/api/export", { mode: $("export-mode").value }));
  if (response) showJob(await response.json());
});

// ---- navigation, tools, shortcuts --------------------------------------------------------------
$("scrub").addEventListener("input", (event) => goTo(Number(event.target.value)).catch((e) => showMessage(e.message)));
$("frame-number").addEventListener("change", (event) => goTo(Number(event.target.value)));
$("prev").addEventListener("click", () => goTo(state.frame - 1));
$("next").addEventListener("click", () => goTo(state.frame + 1));
$("timeline").addEventListener("pointerdown", (event) => {
  const seek = (e) => {
    const rect = $("timeline").getBoundingClientRect();
    goTo(Math.floor((e.clientX - rect.left) / rect.width * state.project.frames));
  };
  seek(event);
  const move = (e) => { if (e.buttons) seek(e); };
  $("timeline").addEventListener("pointermove", move);
  window.addEventListener("pointerup", () => $("timeline").removeEventListener("pointermove", move), { once: true });
});
$("view").addEventListener("change", (event) => { state.view = event.target.value; draw(); });
$("undo").addEventListener("click", undo);
$("zoom-reset").addEventListener("click", fit);
for (const button of document.querySelectorAll("#tools button")) {
  button.addEventListener("click", () => selectTool(button.dataset.tool));
}
function selectTool(tool) {
  state.tool = tool;
  for (const b of document.querySelectorAll("#tools button")) b.classList.toggle("active", b.dataset.tool === tool);
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" && event.target.type !== "range" && event.target.type !== "checkbox") return;
  const step = event.shiftKey ? 10 : 1;
  const views = ["overlay", "matte", "alpha", "outlines"];
  const keys = {
    ArrowLeft: () => goTo(state.frame - step), ArrowRight: () => goTo(state.frame + step),
    Home: () => goTo(0), End: () => goTo(state.project.frames - 1),
    f: () => propagate("forward"), b: () => propagate("backward"),
    p: () => $("pause").click(), Escape: () => $("cancel").click(),
    k: toggleKeyframe, x: () => selectTool("box"), c: () => selectTool("clicks"),
    r: () => selectTool("brush"), e: () => selectTool("eraser"), "0": fit,
    v: () => { state.view = views[(views.indexOf(state.view) + 1) % views.length]; $("view").value = state.view; draw(); },
  };
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (/^[1-9]$/.test(event.key)) {
    const object = state.project.objects[Number(event.key) - 1];
    if (object) { state.object = object.id; renderObjects(); }
    return;
  }
  const action = keys[event.key];
  if (action) { event.preventDefault(); action(); }
});
window.addEventListener("resize", () => { fit(); drawTimeline(); });

// ---- start -------------------------------------------------------------------------------------
(async () => {
  selectTool("box");
  await attempt(loadProject);
  if (!state.project) return;
  follow(state.project.events);
  const first = state.project.keyframes.length ? state.project.keyframes[0] : 0;
  await attempt(() => goTo(first));
  fit();
  document.body.dataset.ready = "1";
})();
