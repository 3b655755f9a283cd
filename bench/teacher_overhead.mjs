// What a teacher you call costs on top of the calls themselves (issue 28; docs/BENCHMARKS.md "Teachers you call"):
// the rows keyed by content (sha256), checked, cached (one atomic file per batch) and assembled, with a function that
// answers at once — so the figure is Distillery's overhead alone. A warm pass answers every row from the cache.
//
//   npm run build && node bench/teacher_overhead.mjs [rows=60000] [batch=32]
//
// Rows are MNIST-sized (784 float32 values), answers 10 logits. Prints one JSON line per pass.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dist } from './lib.mjs';

const { callInBatches } = dist('teacher/schedule.js');
const { AnswerCache, rowKey } = dist('teacher/cache.js');
const { answersFrom } = dist('teacher/answers.js');

const rows = Number(process.argv[2] ?? 60000);
const batchSize = Number(process.argv[3] ?? 32);
const classes = Array.from({ length: 10 }, (_, i) => String(i));
const inputs = Array.from({ length: rows }, (_, i) =>
  Float32Array.from({ length: 784 }, (_, j) => ((i * 31 + j) % 255) / 255),
);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'teacher-overhead-'));
const answer = () => Array.from({ length: 10 }, (_, k) => k - 4.5);

/** @param {string} name */
async function pass(name) {
  const started = performance.now();
  const cache = AnswerCache.open(dir, { teacher: 'bench', kind: 'logits', classes });
  const keys = inputs.map(rowKey);
  const keyed = performance.now();
  /** @type {{ index: number, input: Float32Array }[]} */
  const pending = [];
  keys.forEach((key, index) => {
    const input = inputs[index];
    if (!cache.has(key) && input) pending.push({ index, input });
  });
  const stats = await callInBatches(pending, (batch) => Promise.resolve(batch.map(answer)), {
    batchSize,
    concurrency: 4,
    timeoutMs: 60000,
    callsPerSecond: null,
    retries: 0,
    backoffMs: 1,
    maxBackoffMs: 1,
    onAnswers: (indices, answers) => {
      const block = answersFrom(answers, { kind: 'logits', classNames: classes, firstRow: 0, source: 'bench' });
      cache.put(
        indices.map((index, i) => [keys[index] ?? '', Array.from(block.values.subarray(i * 10, (i + 1) * 10))]),
        'logits',
      );
    },
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      pass: name,
      rows,
      batchSize,
      calls: stats.calls,
      cached: rows - pending.length,
      seconds: Number(seconds.toFixed(3)),
      keySeconds: Number(((keyed - started) / 1000).toFixed(3)),
      rowsPerSecond: Math.round(rows / seconds),
      cacheMB: Number((dirSize(dir) / 1e6).toFixed(1)),
    }),
  );
}

/** @param {string} folder */
function dirSize(folder) {
  let total = 0;
  for (const name of fs.readdirSync(folder, { recursive: true, encoding: 'utf8' })) {
    const stat = fs.statSync(path.join(folder, name));
    if (stat.isFile()) total += stat.size;
  }
  return total;
}

await pass('cold');
await pass('warm');
fs.rmSync(dir, { recursive: true, force: true });
