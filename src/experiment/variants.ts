/**
 * The int8 / fp16 variants of each student (`export.quantize`, made by python/distillery/quantize.py), evaluated
 * like any model: test metrics, agreement with their float32 student and latency side by side with it. The
 * accuracy guard `export.maxAccuracyDrop` was decided by the engine on data.validation (or a sample of data.train),
 * never on the test split: python/distillery/guard.py.
 */
import * as path from 'node:path';
import type { ExperimentConfig } from '../config/schema';
import type { ModelResult } from '../engine';
import { agreement, evaluate, type Dataset } from '../eval';
import { OnnxModel } from '../runtime/model';
import type { ModelInput } from '../runtime/types';
import { latenciesSideBySide } from './latency';
import { required } from '../core/required';
import type { ClassificationTest, ModelReport, RegressionTest, Variant, VariantReport } from './report-types';

/**
 * Evaluates every variant of every student and sets `report.variants`; `students` and `results` are in the same order.
 * `timed`: the rows a text model is timed on (src/experiment/latency.ts `timedRows`), null for synthetic inputs.
 */
export async function addVariants(
  students: ModelReport[],
  results: readonly ModelResult[],
  fp32Models: readonly OnnxModel[],
  dataset: Dataset,
  config: ExperimentConfig,
  outDir: string,
  timed: readonly ModelInput[] | null = null,
): Promise<void> {
  for (const [index, result] of results.entries()) {
    const variants = result.variants ?? [];
    const student = students[index];
    const fp32 = fp32Models[index];
    if (!student || !fp32 || variants.length === 0) continue;
    const models: OnnxModel[] = [];
    try {
      for (const variant of variants) models.push(await OnnxModel.load(variant.path, result.loadOptions ?? {}));
      const reports: VariantReport[] = [];
      for (const [i, variant] of variants.entries()) {
        reports.push(
          await evaluateVariant(
            required(models[i], 'the model of a variant'),
            variant,
            student,
            fp32,
            dataset,
            config,
            outDir,
          ),
        );
      }
      if (config.evaluate.benchmark) {
        const measured = await latenciesSideBySide([fp32, ...models], timed);
        reports.forEach((report, i) => (report.latency = required(measured[i + 1], 'the latency of a variant')));
      }
      student.variants = reports;
    } finally {
      for (const model of models) await model.close();
    }
  }
}

async function evaluateVariant(
  model: OnnxModel,
  variant: Variant,
  student: ModelReport,
  fp32: OnnxModel,
  dataset: Dataset,
  config: ExperimentConfig,
  outDir: string,
): Promise<VariantReport> {
  const evaluation = await evaluate(model, dataset, {
    topK: config.evaluate.topK,
    eceBins: config.evaluate.calibrationBins,
  });
  const base = {
    name: `${student.name}.${variant.method}`,
    method: variant.method,
    onnx: path.relative(outDir, variant.path),
    sizeBytes: variant.sizeBytes,
    sizeRatio: variant.sizeRatio,
    notSmaller: variant.sizeRatio >= 1,
    calibrationRows: variant.calibrationRows,
    latency: null,
  };
  if (evaluation.task === 'regression' || !('accuracy' in student.test)) {
    const test: RegressionTest =
      evaluation.task === 'regression'
        ? { n: evaluation.samples, rmse: evaluation.rmse, mae: evaluation.mae, r2: evaluation.r2 }
        : { n: evaluation.samples, rmse: NaN, mae: NaN, r2: NaN };
    return { ...base, test, accuracyDropPoints: null, guard: null, rejected: false };
  }
  const test: ClassificationTest = {
    n: evaluation.samples,
    accuracy: evaluation.accuracy,
    errors: evaluation.errors,
    nll: evaluation.nll,
    ece: evaluation.ece,
    topK: evaluation.topK,
  };
  const fidelity = await agreement(model, fp32, dataset);
  const guard = variant.guard ?? null;
  return {
    ...base,
    test,
    accuracyDropPoints: 100 * (student.test.accuracy - evaluation.accuracy),
    agreementWithFp32: fidelity.agreement,
    guard,
    rejected: guard?.rejected ?? false,
    ...(guard?.rejected
      ? {
          reason:
            `${guard.split} accuracy ${guard.dropPoints.toFixed(2)} points below ${student.name} on ${guard.rows} ${guard.split} rows ` +
            `(export.maxAccuracyDrop: ${guard.maxDropPoints})`,
        }
      : {}),
  };
}

/** report.md's section: one row per variant, rejected ones said so, and the frontier chart. */
export function variantsMarkdown(students: readonly ModelReport[], frontier: string | undefined): string[] {
  const rows = students.flatMap((student) => (student.variants ?? []).map((variant) => ({ student, variant })));
  if (rows.length === 0)
    return frontier ? ['## Accuracy against cost', '', `![accuracy against latency and size](${frontier})`, ''] : [];
  const pct = (value: number): string => `${(100 * value).toFixed(2)}%`;
  const lines = [
    '## Quantised and half-precision variants',
    '',
    "Each is a separate .onnx file (int8: onnxruntime quantisation, int8-static calibrated on a sample of the transfer set; fp16: onnxruntime's float16 converter). " +
      `The guard (export.maxAccuracyDrop) compares each variant's accuracy with its float32 student's on ${guardRows(rows.map(({ variant }) => variant))}, never on the test set; the test columns are reported, not used to decide.`,
    '',
    '| variant | size | × fp32 size | test acc | test drop (points) | guard drop (points) | agreement with fp32 | p50 (b=1) | rows/s (b=256) | guard |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { variant } of rows) {
    const accuracy = 'accuracy' in variant.test ? pct(variant.test.accuracy) : '—';
    lines.push(
      `| ${variant.name} | ${(variant.sizeBytes / 2 ** 20).toFixed(2)} MB | ${variant.sizeRatio.toFixed(3)}${variant.notSmaller ? ' (not smaller)' : ''} | ${accuracy} | ${variant.accuracyDropPoints === null ? '—' : variant.accuracyDropPoints.toFixed(2)} | ${variant.guard ? variant.guard.dropPoints.toFixed(2) : '—'} | ${variant.agreementWithFp32 === undefined ? '—' : pct(variant.agreementWithFp32)} | ${variant.latency ? `${variant.latency.batch1P50Ms.toFixed(3)} ms` : '—'} | ${variant.latency ? Math.round(variant.latency.batch256RowsPerS).toLocaleString('en-US') : '—'} | ${variant.guard === null ? 'not guarded' : variant.rejected ? '**rejected**' : 'passed'} |`,
    );
  }
  for (const { variant } of rows.filter(({ variant }) => variant.rejected))
    lines.push('', `**Rejected:** ${variant.name}: ${variant.reason ?? ''}.`);
  for (const { student, variant } of rows) {
    const note = notSmallerNote(variant.method, variant.sizeRatio);
    if (note) lines.push('', `**Not smaller:** ${student.name}.${note}.`);
  }
  lines.push('');
  if (frontier) lines.push('## Accuracy against cost', '', `![accuracy against latency and size](${frontier})`, '');
  return lines;
}

/**
 * `fp16: 1.05× the fp32 size — not smaller (…why)` for a variant whose file is no smaller than its float32 source;
 * null for one that is smaller. Said wherever variants' sizes are listed, so that none passes for a compression.
 */
export function notSmallerNote(method: Variant['method'], sizeRatio: number): string | null {
  if (sizeRatio < 1) return null;
  const added =
    method === 'fp16'
      ? 'Cast nodes around its float32 inputs, outputs and the ops it keeps in float32'
      : 'scales, zero points and QuantizeLinear/DequantizeLinear nodes';
  return (
    `${method}: ${sizeRatio.toFixed(2)}× the fp32 size — not smaller ` +
    `(what it adds, ${added} and its metadata, outweighs what its smaller weights save: a tiny model, or weights left in float32)`
  );
}

/** Which rows the guard ran on, in words: "1,000 data.validation rows" (or a sample of data.train). */
function guardRows(variants: readonly VariantReport[]): string {
  const guard = variants.find((variant) => variant.guard)?.guard;
  if (!guard) return 'held-out rows';
  return guard.split === 'validation'
    ? `${guard.rows.toLocaleString('en-US')} data.validation rows`
    : `${guard.rows.toLocaleString('en-US')} rows of data.train (the experiment has no data.validation)`;
}
