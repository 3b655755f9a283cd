/**
 * The example page (`npm run web`): four students in the browser with `distillery/web`, and any model you pick.
 * The page loads each model once; every prediction runs here, on onnxruntime-web.
 */
import * as distillery from 'distillery/web';
import { OnnxModel, type ModelInfo, type Prediction, type TableRow } from 'distillery/web';

/**
 * onnxruntime-web's .mjs and .wasm are served next to the page (scripts/web.js copies them). `?threads=N` picks the
 * WebAssembly threads (they need the cross-origin isolation the example server sets up).
 */
const threads = Number(new URLSearchParams(location.search).get('threads') ?? NaN);
const LOAD = {
  wasmPaths: new URL('ort/', location.href).href,
  ...(Number.isInteger(threads) && threads > 0 ? { threads } : {}),
};

// For the console (try `await distillery.OnnxModel.load('models/penguins.onnx')`) and the browser tests.
Object.assign(globalThis, { distillery });

/** The page's element with this id, checked to be of the expected kind. */
function element<T extends HTMLElement>(id: string, kind: abstract new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) throw new Error(`the page has no #${id} of the expected kind`);
  return found;
}

const status = element('status', HTMLSpanElement);

function fail(error: unknown): void {
  status.textContent = `Error: ${error instanceof Error ? error.message : String(error)}`;
  status.className = 'error';
  console.error(error);
}

/** The prediction's label and its probabilities as a bar chart (values for a regression). */
function show(prediction: Prediction, info: ModelInfo, prefix: string): void {
  const bars = element(`${prefix}-bars`, HTMLDivElement);
  bars.replaceChildren();
  if (prediction.task === 'regression') {
    element(`${prefix}-label`, HTMLElement).textContent = prediction.values.map((value) => value.toFixed(3)).join(', ');
    return;
  }
  element(`${prefix}-label`, HTMLElement).textContent = prediction.label;
  prediction.probabilities.forEach((probability, index) => {
    const name = document.createElement('span');
    name.textContent = info.labels?.[index] ?? String(index);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${(100 * probability).toFixed(1)}%`;
    const value = document.createElement('span');
    value.textContent = `${(100 * probability).toFixed(1)}%`;
    if (index === prediction.index) for (const cell of [name, value]) cell.className = 'top';
    bars.append(name, bar, value);
  });
}

// ------------------------------------------------------------ the digit pad

/**
 * The drawing as MNIST's digits are: the ink's bounding box scaled to fit 20×20 and centred in 28×28, 0-255 with
 * white ink on black (the model's own normalisation, recorded in its metadata, is applied by `predict`).
 */
function digitPixels(pad: HTMLCanvasElement): Float32Array | null {
  const context = pad.getContext('2d', { willReadFrequently: true });
  if (context === null) return null;
  const { width, height } = pad;
  const ink = context.getImageData(0, 0, width, height).data;
  let top = height;
  let left = width;
  let bottom = -1;
  let right = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if ((ink[4 * (y * width + x)] ?? 0) > 0) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
  if (bottom < 0) return null;
  const boxWidth = right - left + 1;
  const boxHeight = bottom - top + 1;
  const scale = 20 / Math.max(boxWidth, boxHeight);
  const small = new OffscreenCanvas(28, 28);
  const smallContext = small.getContext('2d', { willReadFrequently: true });
  if (smallContext === null) return null;
  smallContext.fillStyle = '#000';
  smallContext.fillRect(0, 0, 28, 28);
  smallContext.imageSmoothingQuality = 'high';
  const w = boxWidth * scale;
  const h = boxHeight * scale;
  smallContext.drawImage(pad, left, top, boxWidth, boxHeight, (28 - w) / 2, (28 - h) / 2, w, h);
  const rgba = smallContext.getImageData(0, 0, 28, 28).data;
  return Float32Array.from({ length: 28 * 28 }, (_, i) => rgba[4 * i] ?? 0);
}

function digitPad(model: OnnxModel): void {
  const pad = element('pad', HTMLCanvasElement);
  const context = pad.getContext('2d', { willReadFrequently: true });
  if (context === null) throw new Error('no 2D context for the drawing pad');
  context.lineWidth = 22;
  context.lineCap = 'round';
  context.lineJoin = 'round';
  context.strokeStyle = '#fff';
  let drawing = false;
  let pending = false;
  // One prediction per animation frame at most: drawing stays fluid however fast the pointer moves.
  const predictSoon = (): void => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const pixels = digitPixels(pad);
      if (pixels !== null) model.predict(pixels).then((prediction) => show(prediction, model.info, 'digit'), fail);
    });
  };
  const at = (event: PointerEvent): [number, number] => {
    const box = pad.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * pad.width) / box.width,
      ((event.clientY - box.top) * pad.height) / box.height,
    ];
  };
  pad.addEventListener('pointerdown', (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...at(event));
  });
  pad.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    context.lineTo(...at(event));
    context.stroke();
    predictSoon();
  });
  pad.addEventListener('pointerup', () => {
    drawing = false;
    predictSoon();
  });
  element('clear', HTMLElement).addEventListener('click', () => {
    context.clearRect(0, 0, pad.width, pad.height);
    element('digit-label', HTMLElement).textContent = '–';
    element('digit-bars', HTMLElement).replaceChildren();
  });
}

// ------------------------------------------------------------ an image file

function imageFile(model: OnnxModel): void {
  const picker = element('image-file', HTMLInputElement);
  picker.addEventListener('change', () => {
    const file = picker.files?.[0];
    if (file === undefined) return;
    file
      .arrayBuffer()
      .then((bytes) => model.predict(new Uint8Array(bytes)))
      .then((prediction) => show(prediction, model.info, 'image'), fail);
  });
}

// ------------------------------------------------------------ the table form, built from the model's metadata

function tableForm(model: OnnxModel): void {
  const form = element('table-form', HTMLFormElement);
  const spec = model.info.preprocess;
  if (spec?.kind !== 'table') throw new Error(`${model.info.name} was not trained on a table`);
  const read: (() => [string, string | number | boolean | null])[] = [];
  for (const column of spec.columns) {
    const label = document.createElement('label');
    label.textContent = column.name;
    let field: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
    if (column.type === 'categorical') {
      const select = document.createElement('select');
      for (const category of column.categories) select.add(new Option(category, category));
      field = select;
      read.push(() => [column.name, select.value]);
    } else if (column.type === 'boolean') {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = column.fill >= 0.5;
      field = box;
      read.push(() => [column.name, box.checked]);
    } else if (column.type === 'numeric') {
      const input = document.createElement('input');
      input.type = 'number';
      input.step = 'any';
      input.value = String(Number(column.fill.toPrecision(4)));
      field = input;
      read.push(() => [column.name, input.value === '' ? null : Number(input.value)]);
    } else {
      const area = document.createElement('textarea');
      field = area;
      read.push(() => [column.name, area.value]);
    }
    field.name = column.name;
    label.htmlFor = field.id = `column-${column.name}`;
    form.append(label, field);
  }
  const predict = (): void => {
    const row: TableRow = Object.fromEntries(read.map((get) => get()));
    model.predict(row).then((prediction) => show(prediction, model.info, 'table'), fail);
  };
  form.addEventListener('input', predict);
  form.addEventListener('submit', (event) => event.preventDefault());
  predict();
}

// ------------------------------------------------------------ the text box

function textBox(model: OnnxModel): void {
  const input = element('text-input', HTMLTextAreaElement);
  const predict = (): void => {
    model.predict(input.value).then((prediction) => show(prediction, model.info, 'text'), fail);
  };
  input.addEventListener('input', predict);
  predict();
}

// ------------------------------------------------------------ your own model

function ownModel(): void {
  const picker = element('own-file', HTMLInputElement);
  let previous: OnnxModel | null = null;
  picker.addEventListener('change', () => {
    const file = picker.files?.[0];
    if (file === undefined) return;
    OnnxModel.load(file, LOAD).then((model) => {
      // One of yours at a time: the one chosen before frees its session.
      void previous?.close();
      previous = model;
      const { name, task, input, output, labels, preprocess, unknown } = model.info;
      element('own-info', HTMLElement).textContent = JSON.stringify(
        { name, task, input, output, labels, preprocess, unknown },
        null,
        2,
      );
    }, fail);
  });
}

async function main(): Promise<void> {
  const urls = ['mnist-student', 'digits-png', 'penguins', 'sentiment'].map((name) => `models/${name}.onnx`);
  const [digits, digitsPng, penguins, sentiment] = await Promise.all(urls.map((url) => OnnxModel.load(url, LOAD)));
  digitPad(digits as OnnxModel);
  imageFile(digitsPng as OnnxModel);
  tableForm(penguins as OnnxModel);
  textBox(sentiment as OnnxModel);
  ownModel();
  await (digits as OnnxModel).predict(new Float32Array(28 * 28));
  // From the start of navigation (performance's time origin): HTML, script, runtime, models, one prediction.
  const firstPrediction = performance.now();
  status.textContent = `Ready: four models loaded, first prediction after ${firstPrediction.toFixed(0)} ms.`;
  Object.assign(globalThis, { firstPredictionMs: firstPrediction });
  document.body.dataset.ready = 'true';
}

main().catch(fail);
