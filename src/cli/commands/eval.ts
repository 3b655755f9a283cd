/** `distillery eval`: a model's test metrics on labelled data, and its agreement with a teacher. */
import type { Command } from 'commander';
import { agreement, evaluate } from '../../eval';
import { evaluationData, withModel } from '../model-data';
import { EXIT, integer, out, type Settle } from '../shared';

async function evalCommand(
  file: string,
  options: { data: string; teacher?: string; json?: boolean; topK?: number },
): Promise<number> {
  const result = await withModel(file, async (model) => {
    const dataset = await evaluationData(model, options.data);
    const report = await evaluate(model, dataset, { topK: options.topK });
    const fidelity = options.teacher
      ? await withModel(options.teacher, (teacher) => agreement(model, teacher, dataset))
      : undefined;
    return { ...report, ...(fidelity ? { agreementWithTeacher: fidelity.agreement } : {}) };
  });
  if (options.json) {
    out(JSON.stringify(result, null, 2));
  } else if (result.task === 'classification') {
    out(
      `${result.model}: accuracy ${(100 * result.accuracy).toFixed(2)}% (${result.errors} errors of ${result.samples}), top-${result.topK.k} ${(100 * result.topK.accuracy).toFixed(2)}%, NLL ${result.nll.toFixed(4)}, ECE ${result.ece.toFixed(4)}`,
    );
    if ('agreementWithTeacher' in result)
      out(`agreement with the teacher: ${(100 * Number(result.agreementWithTeacher)).toFixed(2)}%`);
  } else {
    out(
      `${result.model}: RMSE ${result.rmse.toFixed(4)}, MAE ${result.mae.toFixed(4)}, R² ${result.r2.toFixed(4)} on ${result.samples} samples`,
    );
  }
  return EXIT.ok;
}

/** Adds `distillery eval` to the program. */
export function registerEval(program: Command, set: Settle): void {
  program
    .command('eval')
    .description('evaluate an ONNX model on a labelled dataset')
    .argument('<model>', '.onnx file')
    .requiredOption(
      '--data <file>',
      '.npz with arrays x and y; for a model trained on a table, a .csv/.tsv/.jsonl with its label column; for one trained on images, a folder (one subfolder per class) or an index .csv',
    )
    .option('--teacher <model>', 'also report agreement with this teacher .onnx')
    .option('--top-k <k>', 'k for top-k accuracy (default 5)', integer)
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof evalCommand>[1]) => set(evalCommand(model, options)));
}
