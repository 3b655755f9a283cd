/** The results table as Markdown and as plain text, and report.md (report.json's shape is in report-types.ts). */
import * as path from 'node:path';
import type { MethodConfig } from '../config/schema';
import type { DataSummary } from '../data/types';
import type { TextSummary } from '../data/text';
import type { ModelReport, RunReport, TeacherReport } from './report-types';
import type { SweepReport } from './selection';
import { TIMED_TEST_ROWS } from './latency';
import { formatP, verdictSentence } from './verdict';
import { variantsMarkdown } from './variants';

const percent = (value: number): string => `${(100 * value).toFixed(2)}%`;
const compact = (value: number): string =>
  value >= 1e9
    ? `${(value / 1e9).toFixed(2)}G`
    : value >= 1e6
      ? `${(value / 1e6).toFixed(2)}M`
      : value >= 1e3
        ? `${(value / 1e3).toFixed(1)}k`
        : String(value);
const bytes = (value: number | null): string =>
  value === null ? '—' : value >= 1 << 20 ? `${(value / (1 << 20)).toFixed(2)} MB` : `${(value / 1024).toFixed(1)} kB`;

/** A method as a table cell: its name and its options, whatever the method (no per-method code). */
export function methodLabel(method: MethodConfig | null): string {
  if (!method) return 'teacher';
  const { type, ...options } = method;
  const shown = Object.entries(options)
    .filter(([, value]) => value !== undefined && value !== false) // an option left off is not shown
    .map(([key, value]) =>
      value === true ? (METHOD_SYMBOLS[key] ?? key) : `${METHOD_SYMBOLS[key] ?? key}=${String(value)}`,
    );
  return [type, ...shown].join(' ');
}
const METHOD_SYMBOLS: Record<string, string> = {
  temperature: 'T',
  alpha: 'α',
  beta: 'β',
  gamma: 'γ',
  targetWeight: 'w',
  huberDelta: 'δ',
  standardizeLogits: 'logit-std',
  warmupEpochs: 'warm-up',
  labelWeight: 'CE×',
};

/** The results table's rows: teacher first, then the students in config order. */
export function tableRows(report: RunReport): string[][] {
  const header =
    report.task === 'classification'
      ? [
          'model',
          'method',
          'test acc',
          'errors',
          'agreement',
          'verdict vs labels',
          'params',
          'FLOPs',
          'ONNX',
          'p50 (b=1)',
          'rows/s (b=256)',
          'speed-up',
          'train s',
        ]
      : [
          'model',
          'method',
          'RMSE',
          'MAE',
          'R²',
          'verdict vs labels',
          'params',
          'FLOPs',
          'ONNX',
          'p50 (b=1)',
          'rows/s (b=256)',
          'speed-up',
          'train s',
        ];
  const rows = [report.teacher, ...report.students].map((model) => {
    const quality =
      model.test === null
        ? ['not measured', '—', '—']
        : 'accuracy' in model.test
          ? [
              percent(model.test.accuracy),
              String(model.test.errors),
              model.agreementWithTeacher === undefined ? '—' : percent(model.agreementWithTeacher),
            ]
          : [model.test.rmse.toFixed(4), model.test.mae.toFixed(4), model.test.r2.toFixed(4)];
    return [
      modelCell(model),
      methodLabel(model.method),
      ...quality,
      verdictCell(model),
      // A teacher given by its answers has no parameters here to count (its model runs elsewhere).
      'inputs' in model && model.inputs === 'outputs' ? '—' : compact(model.params),
      model.flopsPerSample === null ? '—' : compact(model.flopsPerSample),
      bytes(model.sizeBytes),
      model.latency ? `${model.latency.batch1P50Ms.toFixed(3)} ms` : '—',
      model.latency ? compact(Math.round(model.latency.batch256RowsPerS)) : '—',
      model.speedupOverTeacher === undefined ? '—' : `${model.speedupOverTeacher.toFixed(2)}×`,
      model.trainSeconds.toFixed(1),
    ];
  });
  return [header, ...rows];
}

/** The model's name; a chosen candidate's group; a labels twin's student (it is that student). */
function modelCell(model: ModelReport | TeacherReport): string {
  const name = model.candidateOf ? `${model.name} (${model.candidateOf})` : model.name;
  return model.sameAs ? `${name} = ${model.sameAs}` : name;
}

function verdictCell(model: ModelReport | TeacherReport): string {
  if (!model.verdict) return '—';
  if (model.verdict.conclusion === 'identical') return `identical to ${model.verdict.baseline}`;
  return `${model.verdict.conclusion} (p=${formatP(model.verdict.pValue)})`;
}

export function markdownTable(rows: string[][]): string {
  const [header, ...body] = rows;
  if (!header) return '';
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

export function plainTable(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function bestStudent(report: RunReport): ModelReport | undefined {
  const score = (model: ModelReport): number => ('accuracy' in model.test ? model.test.accuracy : -model.test.rmse);
  return [...report.students].sort((a, b) => score(b) - score(a))[0];
}

/** How a table or an image folder was prepared, and what was skipped: said in the report, never silent. */
function dataNote(data: DataSummary): string[] {
  if (data.kind === 'arrays') return [];
  const rows = Object.entries(data.rows)
    .map(([role, count]) => `${role} ${count}`)
    .join(', ');
  const skipped = Object.entries(data.skipped).filter(([, count]) => count > 0);
  const skippedNote = skipped.length
    ? ` **Skipped as unreadable:** ${skipped.map(([role, count]) => `${role} ${count}`).join(', ')}.`
    : '';
  return [
    '',
    `Data: ${data.kind === 'table' ? 'a table' : 'images'}, encoded by the preprocessing recorded in every model (${rows}).${skippedNote}`,
    ...(data.text ? ['', textNote(data.text)] : []),
    ...(data.notes ?? []).map((note) => `\n**Note:** ${note}`),
  ];
}

/** The text column's tokenizer and what encoding its texts found (truncated, empty), per split. */
function textNote(text: TextSummary): string {
  const perSplit = (counts: Record<string, number>): string =>
    Object.entries(counts)
      .map(([role, count]) => `${role} ${count}`)
      .join(', ');
  const tokenizer =
    text.tokenizer === 'file' ? 'your tokenizer.json' : `a ${text.tokenizer} tokenizer fitted on data.train`;
  return (
    `Text column "${text.column}"${text.inferred ? ' (inferred)' : ''}: ${tokenizer} (${text.vocabSize} tokens, \`${text.tokenizerFile}\`), ` +
    `${text.maxLength} token slots, cut on the ${text.truncation}. Truncated: ${perSplit(text.truncated)}; ` +
    `empty or missing (encoded as padding only): ${perSplit(text.emptyTexts)}.`
  );
}

/** A teacher that reads the raw texts with its own tokenizer: how it was measured without an .onnx here. */
function textTeacherNote(teacher: TeacherReport): string[] {
  if (teacher.inputs === 'outputs') return calledTeacherNote(teacher);
  if (teacher.inputs !== 'texts') return [];
  return [
    '',
    `The teacher **${teacher.name}** reads the raw texts with its own tokenizer (\`${teacher.source?.path ?? '?'}\`): the runtime cannot feed it the data's rows, so it has no .onnx here and no latency (—); its test metrics, and the students' agreement with it, are computed from the class probabilities the engine wrote for the same test rows (\`results/${teacher.name}.test-outputs.json\`).`,
  ];
}

/**
 * A teacher you call (or a file of its outputs): what answered, how many rows were asked and how many came from the
 * cache, the calls and retries, and what the answers were. Labels alone are said plainly: no soft targets.
 */
function calledTeacherNote(teacher: TeacherReport): string[] {
  const labelling = teacher.labelling;
  if (!labelling) return [];
  const rows = labelling.splits
    .map((split) => `${split.split}: ${split.rows} rows, ${split.called} asked, ${split.cached} from the cache`)
    .join('; ');
  const calls =
    labelling.calls > 0 || labelling.splits.some((split) => split.cached > 0)
      ? ` ${labelling.calls} calls, ${labelling.retries} retries, ${labelling.failures} failed attempts (${labelling.timeouts} timed out), ${labelling.seconds.toFixed(1)} s.`
      : '';
  const kind =
    labelling.kind === 'labels'
      ? ' **No soft targets were available**: the teacher gave labels alone, so its students learnt them as pseudo-labels (the plain classification loss, whatever their method); each verdict still compares a student with the labels-trained one.'
      : ` Its answers were ${labelling.kind}${labelling.kindFrom === 'auto' ? ' (kind auto: decided on its first answers)' : ''}.`;
  const measured =
    teacher.test === null
      ? " It gave no answers on data.test, so it is not measured there (—), and its students' agreement with it is not either."
      : " Its test metrics, and the students' agreement with it, come from its answers on the test rows.";
  return [
    '',
    `The teacher **${teacher.name}** was called, not run here (${labelling.source}): ${rows}.${calls}${kind}${measured}`,
  ];
}

/** Each text model started from word vectors: how much of its vocabulary and of data.train's tokens they covered. */
function vectorsNotes(report: RunReport): string[] {
  return [report.teacher, ...report.students].flatMap((model) =>
    (model.vectors ?? []).flatMap((vectors) => [
      `Word vectors of **${model.name}** (\`${vectors.field}\`, ${path.basename(vectors.path)}, ${vectors.dim} dimensions${vectors.freeze ? ', frozen' : ''}): ` +
        `${vectors.matched} of ${vectors.vocabulary} tokens (${percent(vectors.share)})` +
        `${vectors.lowercased ? `, ${vectors.lowercased} of them in another casing` : ''}; ` +
        `${percent(vectors.trainShare)} of data.train's ${vectors.trainTokens} tokens.` +
        (vectors.missing.length
          ? ` Most frequent without a vector: ${vectors.missing.map((token) => `\`${token}\``).join(', ')}.`
          : ''),
      '',
    ]),
  );
}

/** The warnings about one model (src/experiment/warnings.ts). */
function warningsAbout(report: RunReport, model: string): RunReport['warnings'] {
  return report.warnings.filter((warning) => warning.model === model);
}

/**
 * The warnings about the teacher and the students without a verdict, under the results table (near their rows); a
 * judged student's are under its verdict.
 */
function unjudgedModelWarnings(report: RunReport): string[] {
  const judged = new Set(report.students.filter((model) => model.verdict).map((model) => model.name));
  return report.warnings
    .filter((warning) => warning.model !== undefined && !judged.has(warning.model))
    .flatMap((warning) => [`**Warning:** ${warning.message}`, '']);
}

/** Did distillation help? One sentence per distilled student, then each sweep's candidates on validation. */
function verdictAndSweeps(report: RunReport): string[] {
  const lines: string[] = [];
  const judged = report.students.flatMap((model) =>
    model.verdict ? [{ name: model.name, verdict: model.verdict }] : [],
  );
  if (judged.length) {
    lines.push(
      '## Did distillation help?',
      '',
      'Each distilled student against the same architecture trained on the labels, on the test set (p < 0.05 is called significant):',
      '',
    );
    for (const model of judged)
      lines.push(
        `- ${verdictSentence(model.name, model.verdict)}`,
        ...warningsAbout(report, model.name).map((warning) => `  - **Warning:** ${warning.message}`),
      );
    lines.push('');
  }
  for (const sweep of report.sweeps) lines.push(...sweepSection(sweep));
  return lines;
}

/** One sweep (or auto) group: what decided, in a sentence, then each candidate's score and its test against the reference. */
function sweepSection(sweep: SweepReport): string[] {
  const what = sweep.auto ? `\`auto\` for **${sweep.student}**` : `Sweep for **${sweep.student}**`;
  const evidence =
    sweep.evidence === 'k-fold'
      ? `${sweep.folds ?? '?'}-fold cross-validation over the ${sweep.rows} rows of data.train`
      : `the ${sweep.rows} validation rows`;
  const test = sweep.test === 'mcnemar-exact' ? 'exact McNemar' : 'exact sign test';
  const rows = [
    [
      'candidate',
      'method',
      'fields set',
      sweep.metric,
      sweep.evidence === 'k-fold' ? 'per fold (mean ± sd)' : '95 % interval',
      `vs ${sweep.reference} (better / worse)`,
      'p (Holm)',
      'chosen',
    ],
  ];
  for (const candidate of sweep.candidates) {
    const fields = Object.entries(candidate.overrides)
      .filter(([key]) => key !== 'method')
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
      .join(', ');
    const score = (value: number): string =>
      sweep.metric === 'validationAccuracy' ? percent(value) : value.toPrecision(4);
    const spread = candidate.folds
      ? `${score(candidate.folds.mean)} ± ${score(candidate.folds.sd)}`
      : candidate.interval
        ? `${score(candidate.interval[0])} – ${score(candidate.interval[1])}`
        : '—';
    const comparison = candidate.comparison;
    rows.push([
      candidate.sameAs ? `${candidate.name} = ${candidate.sameAs}` : candidate.name,
      methodLabel(candidate.method),
      fields || '—',
      score(candidate.validation),
      spread,
      comparison ? `${comparison.candidateBetter} / ${comparison.referenceBetter}` : 'reference',
      comparison ? `${formatP(comparison.pValue)} (${formatP(comparison.holmPValue)})` : '—',
      candidate.chosen ? '✓' : '',
    ]);
  }
  return [
    `## ${sweep.auto ? 'auto' : 'Sweep'}: ${sweep.student}`,
    '',
    `${what}: ${sweep.candidates.length} candidates compared on ${evidence} (the test set was not read); kept: **${sweep.chosen}**.`,
    '',
    sweep.summary,
    '',
    `The rule: the reference (${sweep.reference}) stays unless a candidate is better on the same rows by a paired ${test} test, Holm-adjusted over the ${sweep.candidates.length - 1} other candidates, at level ${sweep.level}, and also scores better; among those the best score wins.`,
    '',
    markdownTable(rows),
    '',
  ];
}

export function reportMarkdown(
  report: RunReport,
  config: unknown,
  charts: { curves?: string; confusion?: string; frontier?: string; error?: string },
): string {
  const best = bestStudent(report);
  const lines = [
    `# ${report.name}`,
    '',
    `Distillery ${report.distillery} · torch ${report.torch} on ${report.device} · seed ${report.seed} · ${report.durationSeconds.toFixed(1)} s · ${report.machine} · ${report.createdAt}`,
    '',
    `Test set: ${report.students[0]?.test.n ?? report.teacher.test?.n ?? 0} samples (${report.testData}). Latency: onnxruntime-node on this machine, batch-1 median, all models measured in interleaved rounds; speed-up is the teacher's latency over the model's.${report.data.text ? ` Text models are timed on the raw rows of data.test (the first ${TIMED_TEST_ROWS}), tokenization included.` : ''}`,
    ...dataNote(report.data),
    ...textTeacherNote(report.teacher),
    ...report.warnings
      .filter((warning) => warning.model === undefined)
      .flatMap((warning) => ['', `**Warning:** ${warning.message}`]),
    '',
    markdownTable(tableRows(report)),
    '',
    ...vectorsNotes(report),
    ...unjudgedModelWarnings(report),
    ...verdictAndSweeps(report),
  ];
  if (charts.curves) lines.push('## Learning curves', '', `![learning curves](${charts.curves})`, '');
  if (charts.confusion && best)
    lines.push(
      `## Confusion matrix of the best student (${best.name})`,
      '',
      `![confusion matrix](${charts.confusion})`,
      '',
    );
  lines.push(...variantsMarkdown(report.students, charts.frontier));
  if (charts.error) lines.push(`_Charts could not be drawn: ${charts.error}_`, '');
  lines.push(
    '## How this was made',
    '',
    '```sh',
    report.command,
    '```',
    '',
    '<details><summary>Resolved config</summary>',
    '',
    '```json',
    JSON.stringify(config, null, 2),
    '```',
    '',
    '</details>',
    '',
  );
  return lines.join('\n');
}
