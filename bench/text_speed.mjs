// A text student in Node, as a caller uses it, on one thread (onnxruntime intra-op threads 1; JavaScript is one
// thread): (a) `model.predict(text)` per sentence at batch 1, tokenization included, p50/p99; (b) sentences/s of
// `predictBatch(texts)` at batch 256; (c) tokenization alone (src/preprocess/text.ts, the runtime's one encoder),
// all sentences, warm (its word cache holding every word) and with a fresh encoder per pass — against the Python `tokenizers` library's `encode_batch` on the same sentences and the same
// tokenizer.json (the model's `distillery.tokenizer`), bench/text_tokenize.py run by this script in alternating
// rounds at RAYON_NUM_THREADS=1 and at its default threads. Writes text_speed.json (with the whole `lscpu` and the
// commit) and text_speed.md (the BENCHMARKS row).
//
//   node bench/text_speed.mjs MODEL.onnx [--data ../shared/data/sst2/test.tsv] [--column sentence] [--rounds 3]
//        [--seconds 2] [--repeats 5] [--limit N] [--no-python]
//
// The sentences are every row of --data (a .csv/.tsv/.jsonl file, read by the library's table reader; --limit cuts
// them); the column defaults to the model's text column. (a) times each sentence once per round, in file order;
// (b) runs batches of 256 consecutive sentences (wrapping around) for --seconds per round. Python gets the same
// sentences (a JSON file) and the same tokenizer.json, and says which ids it got (a sha256): the row says whether
// Node's ids were identical.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OUT, PYTHON, ROOT, arg, dist, flag, fmt, median, parseJson, table, writeJson } from './lib.mjs';

/**
 * What bench/text_tokenize.py prints.
 * @typedef {{ medianSeconds: number, bestSeconds: number, sentencesPerSecond: number, usPerSentence: number }} PassSummary
 * @typedef {{ tokenizers: string, rayonNumThreads: string | null, cpuCount: number, sentences: number, tokens: number, idsSha256: string, encodeBatch: PassSummary, encodeBatchFast: PassSummary | null }} PythonResult
 */

const positional = process.argv[2] !== undefined && !process.argv[2].startsWith('--') ? process.argv[2] : undefined;
const modelFile = path.resolve(positional ?? arg('model', ''));
if (!fs.existsSync(modelFile) || !fs.statSync(modelFile).isFile()) {
  console.error(`${modelFile} not found: give the .onnx of a text model (e.g. an embedding-bag student)`);
  process.exit(2);
}
const dataFile = path.resolve(arg('data', path.join(ROOT, '..', 'shared', 'data', 'sst2', 'test.tsv')));
const rounds = Number(arg('rounds', '3'));
const seconds = Number(arg('seconds', '2'));
const repeats = Number(arg('repeats', '5'));
const limit = Number(arg('limit', '0'));
const withPython = !flag('no-python');
const BATCH = 256;

const { OnnxModel } = dist('runtime/index.js');
const { readTableFile } = dist('data/table.js');
const { loadTokenizer } = dist('preprocess/text.js');
const { decodeModel, graphFacts } = dist('runtime/model-file.js');
const { readModelBytes } = dist('runtime/model.js');

const model = await OnnxModel.load(modelFile, { threads: 1 });
const tokenizerInfo = model.info.tokenizer;
if (!tokenizerInfo) {
  console.error(`${modelFile} is not a text model (no distillery.tokenizer)`);
  process.exit(2);
}
const column = arg('column', tokenizerInfo.column);
const rows = await readTableFile(dataFile);
if (rows[0] && !(column in rows[0])) {
  console.error(`${dataFile} has no column ${column} (it has ${Object.keys(rows[0]).join(', ')}): pass --column`);
  process.exit(2);
}
/** @type {string[]} */
const texts = rows.map((row, index) => {
  const value = row[column];
  if (typeof value !== 'string') throw new Error(`${dataFile}: row ${index + 1} has no text in column ${column}`);
  return value;
});
if (limit > 0) texts.splice(limit);
if (texts.length === 0) throw new Error(`${dataFile}: no sentences`);

// The tokenizer the model carries, for Node's encoder and for Python.
const tokenizerJson = graphFacts(decodeModel(await readModelBytes(modelFile), modelFile)).metadata.get(
  'distillery.tokenizer',
);
if (tokenizerJson === undefined) throw new Error(`${modelFile}: no distillery.tokenizer metadata`);
const work = path.join(OUT, 'text_speed');
fs.mkdirSync(work, { recursive: true });
const tokenizerFile = path.join(work, 'tokenizer.json');
const sentencesFile = path.join(work, 'sentences.json');
fs.writeFileSync(tokenizerFile, tokenizerJson);
fs.writeFileSync(sentencesFile, JSON.stringify(texts));

/** A fresh encoder: its word cache empty. */
const freshTokenizer = () =>
  loadTokenizer(tokenizerJson, { maxLength: tokenizerInfo.maxLength, truncation: tokenizerInfo.truncation });
const tokenizer = freshTokenizer();

/** One pass of Node's encoder over every sentence; returns the ids. */
const encodeAll = () => texts.map((text) => tokenizer.encode(text).ids);
const nodeIds = encodeAll();
const nodeTokens = nodeIds.reduce((sum, ids) => sum + ids.length, 0);
const nodeSha256 = createHash('sha256').update(JSON.stringify(nodeIds)).digest('hex');

/**
 * Node's tokenization, `repeats` timed passes each: warm (after a pass that filled the encoder's word cache with every
 * word of the sentences, the state of a long-running service) and cold (a fresh encoder each pass, its cache filled
 * as the pass goes, made before the clock starts); the median pass of each.
 */
function nodeTokenize() {
  encodeAll();
  /** @type {number[]} */
  const warm = [];
  /** @type {number[]} */
  const cold = [];
  for (let i = 0; i < repeats; i++) {
    let start = performance.now();
    encodeAll();
    warm.push((performance.now() - start) / 1000);
    const fresh = freshTokenizer();
    start = performance.now();
    for (const text of texts) fresh.encode(text);
    cold.push((performance.now() - start) / 1000);
  }
  const med = median(warm);
  return {
    medianSeconds: med,
    bestSeconds: Math.min(...warm),
    sentencesPerSecond: texts.length / med,
    coldMedianSeconds: median(cold),
    coldSentencesPerSecond: texts.length / median(cold),
  };
}

/**
 * bench/text_tokenize.py on the same sentences: one thread (RAYON_NUM_THREADS=1) or its default pool.
 * @param {boolean} oneThread
 * @returns {PythonResult}
 */
function pythonTokenize(oneThread) {
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, PYTHONPATH: path.join(ROOT, 'python') };
  delete env.TOKENIZERS_PARALLELISM;
  if (oneThread) env.RAYON_NUM_THREADS = '1';
  else delete env.RAYON_NUM_THREADS;
  const out = execFileSync(
    PYTHON,
    [
      path.join(ROOT, 'bench', 'text_tokenize.py'),
      '--tokenizer',
      tokenizerFile,
      '--sentences',
      sentencesFile,
      '--max-length',
      String(tokenizerInfo.maxLength),
      '--truncation',
      tokenizerInfo.truncation,
      '--repeats',
      String(repeats),
    ],
    { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return parseJson(out.trim().split('\n').pop() ?? '');
}

/** (a) every sentence once through `predict(text)`, each call timed (µs). */
async function singles() {
  for (let i = 0; i < Math.min(200, texts.length); i++) await model.predict(texts[i] ?? '');
  /** @type {number[]} */
  const times = [];
  for (const text of texts) {
    const start = performance.now();
    await model.predict(text);
    times.push((performance.now() - start) * 1000);
  }
  times.sort((a, b) => a - b);
  const at = (/** @type {number} */ p) => times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)];
  return { p50Us: at(50) ?? NaN, p99Us: at(99) ?? NaN, meanUs: times.reduce((s, t) => s + t, 0) / times.length };
}

/** Batches of BATCH consecutive sentences, the last one wrapping around to the first. */
const batches = (() => {
  /** @type {string[][]} */
  const all = [];
  for (let start = 0; start < texts.length; start += BATCH)
    all.push(Array.from({ length: BATCH }, (_, j) => texts[(start + j) % texts.length] ?? ''));
  return all;
})();

/** (b) `predictBatch` of BATCH sentences for `seconds`: sentences/s. */
async function batched() {
  for (let i = 0; i < Math.min(3, batches.length); i++) await model.predictBatch(batches[i] ?? []);
  let calls = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end || calls < 3) {
    await model.predictBatch(batches[calls % batches.length] ?? []);
    calls += 1;
  }
  return { calls, sentencesPerSecond: (calls * BATCH) / ((performance.now() - start) / 1000) };
}

/** @type {{ round: number, single: Awaited<ReturnType<typeof singles>>, batch: Awaited<ReturnType<typeof batched>>, node: ReturnType<typeof nodeTokenize>, python1: PythonResult | null, pythonDefault: PythonResult | null }[]} */
const results = [];
for (let round = 0; round < rounds; round++) {
  const single = await singles();
  const batch = await batched();
  // tokenization: Node, Python on one thread, Python on its default threads — the order reversed every other round
  /** @type {{ node?: ReturnType<typeof nodeTokenize>, python1?: PythonResult, pythonDefault?: PythonResult }} */
  const tok = {};
  /** @type {('node' | 'python1' | 'pythonDefault')[]} */
  const order = withPython ? ['node', 'python1', 'pythonDefault'] : ['node'];
  for (const side of round % 2 === 0 ? order : [...order].reverse()) {
    if (side === 'node') tok.node = nodeTokenize();
    else if (side === 'python1') tok.python1 = pythonTokenize(true);
    else tok.pythonDefault = pythonTokenize(false);
  }
  const node = tok.node ?? nodeTokenize();
  results.push({
    round,
    single,
    batch,
    node,
    python1: tok.python1 ?? null,
    pythonDefault: tok.pythonDefault ?? null,
  });
  console.error(
    `round ${round + 1}/${rounds}: p50 ${fmt(single.p50Us, 1)} µs, b=${BATCH} ${fmt(batch.sentencesPerSecond, 0)} sentences/s, ` +
      `tokenize Node ${fmt(node.sentencesPerSecond, 0)}/s (fresh ${fmt(node.coldSentencesPerSecond, 0)}/s)` +
      (tok.python1 ? `, Python 1 thread ${fmt(tok.python1.encodeBatch.sentencesPerSecond, 0)}/s` : '') +
      (tok.pythonDefault ? `, default threads ${fmt(tok.pythonDefault.encodeBatch.sentencesPerSecond, 0)}/s` : ''),
  );
}
await model.close();

const pick = (/** @type {(r: (typeof results)[number]) => number | null | undefined} */ f) =>
  median(results.map(f).filter((v) => typeof v === 'number'));
const p50Us = pick((r) => r.single.p50Us);
const p99Us = pick((r) => r.single.p99Us);
const batchRate = pick((r) => r.batch.sentencesPerSecond);
const nodeRate = pick((r) => r.node.sentencesPerSecond);
const nodeColdRate = pick((r) => r.node.coldSentencesPerSecond);
// ratios per round (side by side), then the median over rounds
const ratio1 = pick((r) => (r.python1 ? r.node.sentencesPerSecond / r.python1.encodeBatch.sentencesPerSecond : null));
const ratio1Cold = pick((r) =>
  r.python1 ? r.node.coldSentencesPerSecond / r.python1.encodeBatch.sentencesPerSecond : null,
);
const ratio1Fast = pick((r) =>
  r.python1?.encodeBatchFast ? r.node.sentencesPerSecond / r.python1.encodeBatchFast.sentencesPerSecond : null,
);
const ratioDefault = pick((r) =>
  r.pythonDefault ? r.node.sentencesPerSecond / r.pythonDefault.encodeBatch.sentencesPerSecond : null,
);
const python1Rate = pick((r) => r.python1?.encodeBatch.sentencesPerSecond);
const pythonDefaultRate = pick((r) => r.pythonDefault?.encodeBatch.sentencesPerSecond);
const python = results.find((r) => r.python1)?.python1 ?? null;
const idsIdentical = python ? python.idsSha256 === nodeSha256 : null;

const commit = (() => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null;
  }
})();
const lscpu = (() => {
  try {
    return execFileSync('lscpu', { encoding: 'utf8' });
  } catch {
    return null;
  }
})();

console.log(
  `\nText student in Node: ${path.relative(ROOT, modelFile)} (${model.info.params ?? '?'} params, ${tokenizerInfo.kind} ` +
    `${tokenizerInfo.vocabSize} tokens, maxLength ${tokenizerInfo.maxLength}); ${texts.length} sentences of ` +
    `${path.relative(ROOT, dataFile)} (${column}), ${nodeTokens} tokens; onnxruntime intra-op threads 1; ${rounds} rounds (median)`,
);
console.log(
  table(
    ['', 'measured', 'goal'],
    [
      ['predict(text) p50, batch 1 (µs)', fmt(p50Us, 1), '≤ 50'],
      ['predict(text) p99, batch 1 (µs)', fmt(p99Us, 1), ''],
      [`predictBatch(texts) sentences/s, batch ${BATCH}`, fmt(batchRate, 0), '≥ 50,000'],
      [
        'tokenize in Node, warm word cache, sentences/s (µs/sentence)',
        `${fmt(nodeRate, 0)} (${fmt(1e6 / nodeRate, 2)})`,
        '',
      ],
      [
        'tokenize in Node, fresh encoder each pass, sentences/s (µs/sentence)',
        `${fmt(nodeColdRate, 0)} (${fmt(1e6 / nodeColdRate, 2)})`,
        '',
      ],
      [
        'Python encode_batch, RAYON_NUM_THREADS=1, sentences/s',
        python1Rate
          ? `${fmt(python1Rate, 0)} (Node ${fmt(ratio1, 2)}× warm, ${fmt(ratio1Cold, 2)}× fresh; encode_batch_fast: Node ${fmt(ratio1Fast, 2)}× warm)`
          : '—',
        '',
      ],
      [
        `Python encode_batch, default threads (${python?.cpuCount ?? '?'} CPUs), sentences/s`,
        pythonDefaultRate ? `${fmt(pythonDefaultRate, 0)} (Node ${fmt(ratioDefault, 2)}×)` : '—',
        '',
      ],
      ['ids identical to Python', idsIdentical === null ? '—' : String(idsIdentical), ''],
    ],
  ),
);
const header =
  '| model | sentences | p50 µs, b=1 (tokenization incl.) | p99 µs | sentences/s, b=256 | Node tokenize, sentences/s, warm / fresh | Python encode_batch, 1 thread | Node / Python, 1 thread, warm / fresh | Python, default threads | Node / Python, default | ids identical | commit |';
const row = `| ${path.basename(modelFile)} (${model.info.params ?? '?'} params) | ${texts.length} | ${fmt(p50Us, 1)} | ${fmt(p99Us, 1)} | ${fmt(batchRate, 0)} | ${fmt(nodeRate, 0)} / ${fmt(nodeColdRate, 0)} | ${python1Rate ? fmt(python1Rate, 0) : '—'} | ${ratio1 ? `${fmt(ratio1, 2)}× / ${fmt(ratio1Cold, 2)}×` : '—'} | ${pythonDefaultRate ? fmt(pythonDefaultRate, 0) : '—'} | ${ratioDefault ? `${fmt(ratioDefault, 2)}×` : '—'} | ${idsIdentical === null ? '—' : idsIdentical ? 'yes' : '**no**'} | ${commit ?? '?'} |`;
console.log(`\n${header}\n${header.replace(/[^|]+/g, ' --- ')}\n${row}`);
fs.writeFileSync(path.join(OUT, 'text_speed.md'), `${header}\n${header.replace(/[^|]+/g, ' --- ')}\n${row}\n`);
writeJson('text_speed.json', {
  model: path.relative(ROOT, modelFile),
  params: model.info.params,
  tokenizer: tokenizerInfo,
  data: path.relative(ROOT, dataFile),
  column,
  sentences: texts.length,
  tokens: nodeTokens,
  batchSize: BATCH,
  rounds,
  seconds,
  repeats,
  commit,
  onnxruntimeIntraOpThreads: 1,
  single: { p50Us, p99Us },
  batch: { sentencesPerSecond: batchRate },
  tokenize: {
    nodeSentencesPerSecond: nodeRate,
    nodeFreshEncoderSentencesPerSecond: nodeColdRate,
    python1ThreadSentencesPerSecond: python1Rate,
    pythonDefaultThreadsSentencesPerSecond: pythonDefaultRate,
    nodeOverPython1Thread: ratio1,
    nodeFreshOverPython1Thread: ratio1Cold,
    nodeOverPython1ThreadFast: ratio1Fast,
    nodeOverPythonDefaultThreads: ratioDefault,
    nodeIdsSha256: nodeSha256,
    pythonIdsSha256: python?.idsSha256 ?? null,
    idsIdentical,
  },
  perRound: results,
  lscpu,
  goals: {
    p50Us: 50,
    batchSentencesPerSecond: 50000,
    p50Met: p50Us <= 50,
    batchMet: batchRate >= 50000,
  },
});
