/** The results table as Markdown and as plain text, and report.md (report.json's shape is in report-types.ts). */
import type { MethodConfig } from '../config/schema';
import type { DataSummary } from '../data/types';
import type { ModelReport, RunReport } from './report-types';
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
const bytes = (value: number): string =>
  value >= 1 << 20 ? `${(value / (1 << 20)).toFixed(2)} MB` : `${(value / 1024).toFixed(1)} kB`;

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
      'accuracy' in model.test
        ? [
            percent(model.test.accuracy),
            String(model.test.errors),
            model.agreementWithTeacher === undefined ? '—' : percent(model.agreementWithTeacher),
          ]
        : [model.test.rmse.toFixed(4), model.test.mae.toFixed(4), model.test.r2.toFixed(4)];
    return [
      model.candidateOf ? `${model.name} (${model.candidateOf})` : model.name,
      methodLabel(model.method),
      ...quality,
      model.verdict ? `${model.verdict.conclusion} (p=${formatP(model.verdict.pValue)})` : '—',
      compact(model.params),
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

export function markdownTable(rows: string[][]): string {
  const [header, ...body] = rows;
  if (!header) return '';
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

export function plainTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
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
  ];
}

/** Did distillation help? One sentence per distilled student, then each sweep's candidates on validation. */
function verdictAndSweeps(report: RunReport): string[] {
  const lines: string[] = [];
  const judged = report.students.filter((model) => model.verdict);
  if (judged.length) {
    lines.push(
      '## Did distillation help?',
      '',
      'Each distilled student against the same architecture trained on the labels, on the test set (p < 0.05 is called significant):',
      '',
    );
    for (const model of judged) lines.push(`- ${verdictSentence(model.name, model.verdict!)}`);
    lines.push('');
  }
  for (const sweep of report.sweeps) {
    const what = sweep.auto ? `\`auto\` for **${sweep.student}**` : `Sweep for **${sweep.student}**`;
    lines.push(
      `## ${sweep.auto ? 'auto' : 'Sweep'}: ${sweep.student}`,
      '',
      `${what}: ${sweep.candidates.length} candidates, chosen on ${sweep.metric} (the test set was not read): **${sweep.chosen}**.`,
    );
    if (sweep.labelsKept)
      lines.push(
        '',
        `The labels-trained candidate was the best on validation: no distillation method beat it here, so auto returns it.`,
      );
    const rows = [['candidate', 'method', 'fields set', sweep.metric, 'chosen']];
    for (const candidate of sweep.candidates) {
      const fields = Object.entries(candidate.overrides)
        .filter(([key]) => key !== 'method')
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
        .join(', ');
      const value =
        sweep.metric === 'validationAccuracy' ? percent(candidate.validation) : candidate.validation.toPrecision(4);
      rows.push([candidate.name, methodLabel(candidate.method), fields || '—', value, candidate.chosen ? '✓' : '']);
    }
    lines.push('', markdownTable(rows), '');
  }
  return lines;
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
    `Test set: ${report.teacher.test.n} samples (${report.testData}). Latency: onnxruntime-node on this machine, batch-1 median, all models measured in interleaved rounds; speed-up is the teacher's latency over the model's.`,
    ...dataNote(report.data),
    ...report.warnings.flatMap((warning) => ['', `**Warning:** ${warning}`]),
    '',
    markdownTable(tableRows(report)),
    '',
    ...verdictAndSweeps(report),
  ];
  if (charts.curves) lines.push('## Learning curves', '', `![test accuracy per epoch](${charts.curves})`, '');
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
