// digitlab drawing board: draw a digit or a whole number with mouse, pen or finger; live prediction and
// reading (each digit boxed on the canvas), "why" heat maps; corrections stored for fine-tuning.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const overlay = document.getElementById("overlay").getContext("2d");
const strokes = [];          // each stroke: {width, points: [[x, y], ...]} in canvas pixels
let current = null;
let chosenLabel = null;
let predictTimer = null;
let predictSeq = 0;
let reading = null;          // the last /api/read answer: {text, digits: [...], lines: [{text, box, numbers: [...]}]}
let heat = null;             // the last /api/explain heat map, an Image the size of the canvas
let chosenDigit = null;      // index into reading.digits of the digit being corrected; null: the whole drawing

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

function forget() {
  showPrediction(null);
  showReading(null);
  showExplanation(null);
}

document.getElementById("clear").addEventListener("click", () => {
  strokes.length = 0;
  redraw();
  forget();
  log("cleared");
});
document.getElementById("undo").addEventListener("click", () => {
  strokes.pop();
  redraw();
  strokes.length ? schedulePredict(0) : forget();
});
document.getElementById("why").addEventListener("change", (event) => {
  document.getElementById("explain").hidden = !event.target.checked;
  if (event.target.checked && strokes.length) explain(predictSeq);
  else showExplanation(null);
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

// What the board sends: the canvas in grey levels at half size (the mean of each 2x2 block, as reading/ink.py
// would average it first on the server), as a binary PGM, which the server decodes far faster than the canvas's
// RGBA PNG (benchmarks/load.py --form). Boxes read off it are in its pixels: SENT_SCALE maps them back.
const SENT_SCALE = 2;

function image() {
  const width = canvas.width / SENT_SCALE, height = canvas.height / SENT_SCALE;
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const header = `P5\n${width} ${height}\n255\n`;
  const bytes = new Uint8Array(header.length + width * height);
  for (let i = 0; i < header.length; i++) bytes[i] = header.charCodeAt(i);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let dy = 0; dy < SENT_SCALE; dy++) {
        for (let dx = 0; dx < SENT_SCALE; dx++) {
          const i = 4 * ((y * SENT_SCALE + dy) * canvas.width + x * SENT_SCALE + dx);
          // grey level as Pillow computes it from RGB (ITU-R 601 weights, 16-bit fixed point)
          sum += (rgba[i] * 19595 + rgba[i + 1] * 38470 + rgba[i + 2] * 7471 + 0x8000) >> 16;
        }
      }
      bytes[header.length + y * width + x] = Math.round(sum / (SENT_SCALE * SENT_SCALE));
    }
  }
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return "data:image/x-portable-graymap;base64," + btoa(binary);
}

function onCanvas(box) {
  return box.map((v) => v * SENT_SCALE);
}

function post(path, body) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
}

async function predict() {
  if (!strokes.length) return;
  const seq = ++predictSeq;
  const png = image();
  if (document.getElementById("why").checked) explain(seq);
  // the single digit follows the pen; the whole number (a batch of crops on the server) is read when a stroke ends
  const penDown = Boolean(current);
  try {
    const [result, number] = await Promise.all([post("/api/predict", {image: png}),
                                                penDown ? Promise.resolve(reading) : post("/api/read", {image: png})]);
    if (seq !== predictSeq) return;  // a newer drawing is on its way
    showPrediction(result, number);
    if (!penDown) {
      showReading(number);
      const verdict = result.is_digit === false ? "not a digit" : `${result.digit}`;
      log(`prediction ${verdict} (${(100 * result.probabilities[result.digit]).toFixed(1)}%), ` +
          `reads "${number.text.replaceAll("\n", " / ")}"`);
    }
  } catch (error) {
    if (seq === predictSeq) { showPrediction(null); showReading(null); log(`prediction failed: ${error.message}`); }
  }
}

async function explain(seq) {
  try {
    const result = await post("/api/explain", {image: image()});
    if (seq !== predictSeq || !document.getElementById("why").checked) return;
    showExplanation(result);
  } catch (error) {
    log(`explanation failed: ${error.message}`);
  }
}

function showExplanation(result) {
  document.getElementById("feature-maps").src = result ? result.feature_maps : "";
  if (!result) { heat = null; drawOverlay(); return; }
  const picture = new Image();
  picture.onload = () => { heat = picture; drawOverlay(); };
  picture.src = result.heat;
}

function showReading(number) {
  reading = number && number.digits.length ? number : null;
  chosenDigit = null;
  document.getElementById("number").textContent = reading && reading.text ? reading.text : "–";
  const row = document.getElementById("read-digits");
  row.innerHTML = "";
  (reading ? reading.digits : []).forEach((d, i) => {
    if (d.sign) return;  // a sign read by its shape: nothing to correct it to among 0-9
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = d.is_digit ? `${d.digit} ${(100 * d.probability).toFixed(0)}%` : "no digit";
    button.title = "correct this digit";
    button.dataset.index = i;
    if (!d.is_digit) button.classList.add("refused");
    button.addEventListener("click", () => {
      chosenDigit = chosenDigit === i ? null : i;
      for (const b of row.children) b.classList.toggle("chosen", Number(b.dataset.index) === chosenDigit);
      const digits = reading.digits.filter((e) => !e.sign).length;
      const place = reading.digits.slice(0, i + 1).filter((e) => !e.sign).length;
      document.getElementById("target").textContent =
        chosenDigit === null ? "for the drawing" : `for digit ${place} of ${digits}`;
      drawOverlay();
    });
    row.append(button);
  });
  document.getElementById("target").textContent = "for the drawing";
  drawOverlay();
}

function drawOverlay() {
  overlay.clearRect(0, 0, canvas.width, canvas.height);
  if (heat && document.getElementById("why").checked) overlay.drawImage(heat, 0, 0, canvas.width, canvas.height);
  if (!reading) return;
  const numbers = reading.lines.flatMap((line) => line.numbers);
  overlay.font = "bold 15px system-ui, sans-serif";
  overlay.lineWidth = 2;
  // one box per number (a lone digit: the verdict says it), and the digit being corrected in blue
  if (numbers.length > 1 || reading.digits.length > 1) {
    for (const n of numbers) {
      const [x0, y0, x1, y1] = onCanvas(n.box);
      const refused = n.digits.every((d) => !d.is_digit && !d.sign);
      overlay.strokeStyle = overlay.fillStyle = refused ? "#a30" : "#2a7";
      overlay.strokeRect(x0 - 3, y0 - 3, x1 - x0 + 6, y1 - y0 + 6);
      overlay.fillText(refused ? "?" : n.text, x0, Math.max(14, y0 - 7));
    }
  }
  if (chosenDigit !== null) {
    const [x0, y0, x1, y1] = onCanvas(reading.digits[chosenDigit].box);
    overlay.strokeStyle = "#35a";
    overlay.strokeRect(x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2);
  }
}

function showPrediction(result, number = null) {
  const bars = document.getElementById("bars");
  bars.innerHTML = "";
  document.getElementById("digit").textContent = result ? result.digit : "–";
  document.getElementById("confidence").textContent =
    result ? `${(100 * result.probabilities[result.digit]).toFixed(1)}%` + (result.is_digit === false ? " (best guess)" : "") : "";
  const refusal = document.getElementById("refusal");
  refusal.hidden = !(result && result.is_digit === false);
  const aNumber = number && number.digits.length > 1 && number.digits.every((d) => d.is_digit || d.sign);
  refusal.textContent = aNumber ? "that is more than one digit: see what it reads below"
                                : "that doesn't look like a digit";
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

function digitImage(box) {
  // the chosen digit alone: its box on the canvas, with a margin, on white
  const margin = 12;
  const [b0, b1, b2, b3] = onCanvas(box);
  const [x0, y0, x1, y1] = [Math.max(0, b0 - margin), Math.max(0, b1 - margin),
                            Math.min(canvas.width, b2 + margin), Math.min(canvas.height, b3 + margin)];
  const crop = document.createElement("canvas");
  crop.width = x1 - x0;
  crop.height = y1 - y0;
  crop.getContext("2d").drawImage(canvas, x0, y0, crop.width, crop.height, 0, 0, crop.width, crop.height);
  return crop.toDataURL("image/png");
}

document.getElementById("submit").addEventListener("click", async () => {
  const label = chosenLabel;
  const which = chosenDigit === null ? "the drawing" : `digit ${chosenDigit + 1}`;
  const sample = chosenDigit === null ? image() : digitImage(reading.digits[chosenDigit].box);
  try {
    const result = await post("/api/samples", {image: sample, label});
    document.getElementById("sample-count").textContent = result.total;
    log(`stored sample #${result.id} (${which}) as ${label}`);
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

function percent(value) {
  return value != null ? `${(100 * value).toFixed(2)}%` : "?";
}

async function showModel(model) {
  model = model || await api("/api/model");
  document.getElementById("model-info").textContent =
    `model v${model.version}: ${model.name}` + (model.accuracy != null ? `, ${percent(model.accuracy)} test accuracy` : "");
  const select = document.getElementById("versions");
  select.replaceChildren(...model.versions.map((v) => {
    const option = document.createElement("option");
    option.value = v.version;
    const origin = v.parent == null ? "base" : `from v${v.parent}, ${v.samples} samples`;
    option.textContent = `v${v.version} (${origin}, ${percent(v.accuracy)})` + (v.usable ? "" : " — file missing");
    option.disabled = !v.usable;
    option.selected = v.version === model.version;
    return option;
  }));
  return model;
}

document.getElementById("versions").addEventListener("change", async (event) => {
  const version = Number(event.target.value);
  try {
    const model = await post("/api/model/rollback", {version});
    await showModel(model);
    log(`model v${model.version} serving`);
  } catch (error) {
    log(`could not serve v${version}: ${error.message}`);
    await showModel();
  }
});

async function start() {
  redraw();
  forget();
  try {
    const model = await showModel();
    const samples = await api("/api/samples");
    document.getElementById("sample-count").textContent = samples.total;
    log(`ready: model v${model.version} (${model.name}) of ${model.versions.length} version(s), ${samples.total} stored samples`);
  } catch (error) {
    log(`server not reachable: ${error.message}`);
  }
}
start();
