// digitlab drawing board: draw with mouse, pen or finger; live prediction; corrections stored for fine-tuning.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const strokes = [];          // each stroke: {width, points: [[x, y], ...]} in canvas pixels
let current = null;
let chosenLabel = null;
let predictTimer = null;
let predictSeq = 0;

function log(message) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${message}`;
  const list = document.getElementById("log");
  list.prepend(item);
  while (list.children.length > 100) list.lastChild.remove();
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#000";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) {
    ctx.lineWidth = stroke.width;
    ctx.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (stroke.points.length === 1) ctx.lineTo(stroke.points[0][0] + 0.1, stroke.points[0][1]);
    ctx.stroke();
  }
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  current = {width: Number(document.getElementById("width").value), points: [point(event)]};
  strokes.push(current);
  redraw();
});
canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  event.preventDefault();
  current.points.push(point(event));
  redraw();
  schedulePredict(120);
});
for (const type of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(type, () => {
    if (!current) return;
    current = null;
    schedulePredict(0);
  });
}

document.getElementById("clear").addEventListener("click", () => {
  strokes.length = 0;
  redraw();
  showPrediction(null);
  log("cleared");
});
document.getElementById("undo").addEventListener("click", () => {
  strokes.pop();
  redraw();
  strokes.length ? schedulePredict(0) : showPrediction(null);
});

function schedulePredict(delay) {
  clearTimeout(predictTimer);
  predictTimer = setTimeout(predict, delay);
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function image() {
  return canvas.toDataURL("image/png");
}

async function predict() {
  if (!strokes.length) return;
  const seq = ++predictSeq;
  try {
    const result = await api("/api/predict", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify({image: image()})});
    if (seq !== predictSeq) return;  // a newer drawing is on its way
    showPrediction(result);
    if (!current) log(`prediction ${result.digit} (${(100 * result.probabilities[result.digit]).toFixed(1)}%)`);
  } catch (error) {
    if (seq === predictSeq) { showPrediction(null); log(`prediction failed: ${error.message}`); }
  }
}

function showPrediction(result) {
  const bars = document.getElementById("bars");
  bars.innerHTML = "";
  document.getElementById("digit").textContent = result ? result.digit : "–";
  document.getElementById("confidence").textContent =
    result ? `${(100 * result.probabilities[result.digit]).toFixed(1)}%` : "";
  for (let d = 0; d < 10; d++) {
    const p = result ? result.probabilities[d] : 0;
    const label = document.createElement("span");
    label.textContent = d;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML = `<div style="width:${(100 * p).toFixed(1)}%"></div>`;
    const value = document.createElement("span");
    value.textContent = `${(100 * p).toFixed(1)}%`;
    bars.append(label, bar, value);
  }
  const seen = document.getElementById("input28").getContext("2d");
  const pixels = seen.createImageData(28, 28);
  if (result) {
    result.input28.flat().forEach((v, i) => { pixels.data.set([v, v, v, 255], 4 * i); });
  }
  seen.putImageData(pixels, 0, 0);
  updateSubmit();
}

const labels = document.getElementById("labels");
for (let d = 0; d < 10; d++) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = d;
  button.dataset.label = d;
  button.addEventListener("click", () => {
    chosenLabel = d;
    for (const b of labels.children) b.classList.toggle("chosen", Number(b.dataset.label) === d);
    updateSubmit();
  });
  labels.append(button);
}

function updateSubmit() {
  document.getElementById("submit").disabled = chosenLabel === null || !strokes.length;
}

document.getElementById("submit").addEventListener("click", async () => {
  const label = chosenLabel;
  try {
    const result = await api("/api/samples", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify({image: image(), label})});
    document.getElementById("sample-count").textContent = result.total;
    log(`stored sample #${result.id} as ${label}`);
  } catch (error) {
    log(`could not store the sample: ${error.message}`);
  }
});

document.getElementById("finetune").addEventListener("click", async () => {
  const button = document.getElementById("finetune");
  button.disabled = true;
  try {
    const {job} = await api("/api/finetune", {method: "POST"});
    log(`fine-tune job ${job} started; predictions keep coming from the current model`);
    let status;
    do {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      status = await api(`/api/finetune/${job}`);
      if (status.state === "running") log(`fine-tune job ${job}: ${(100 * status.progress).toFixed(0)}%`);
    } while (status.state === "queued" || status.state === "running");
    const scores = status.before != null ? ` (held-out ${(100 * status.before).toFixed(2)}% -> ${(100 * status.after).toFixed(2)}%)` : "";
    log(`fine-tune job ${job} ${status.state}${scores}${status.message ? ": " + status.message : ""}`);
    await showModel();
  } catch (error) {
    log(`fine-tune failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
});

async function showModel() {
  const model = await api("/api/model");
  document.getElementById("model-info").textContent =
    `model v${model.version}: ${model.name}` + (model.accuracy != null ? `, ${(100 * model.accuracy).toFixed(2)}% test accuracy` : "");
  return model;
}

async function start() {
  redraw();
  showPrediction(null);
  try {
    const model = await showModel();
    const samples = await api("/api/samples");
    document.getElementById("sample-count").textContent = samples.total;
    log(`ready: model v${model.version} (${model.name}), ${samples.total} stored samples`);
  } catch (error) {
    log(`server not reachable: ${error.message}`);
  }
}
start();
