/**
 * Running a model over a dataset and reporting metrics.
 */
import { describeValue, InputValidationError } from '../core/errors';
import type { ClassPrediction, Prediction, Predictor, RegressionPrediction } from '../runtime/types';
import { datasetFromArrays, loadDataset, type Dataset, type DatasetArrays } from './dataset';
import {
  confusionMatrix,
  errorCount,
  expectedCalibrationError,
  mae,
  negativeLogLikelihood,
  perClassFromConfusion,
  predictionAgreement,
  r2,
  rmse,
  topKAccuracy,
  type ClassMetrics,
} from './metrics';

/**
 * A dataset to evaluate on: a file path (as {@link loadDataset} reads), a loaded {@link Dataset}, or typed arrays.
 */
export type DatasetSource = string | Dataset | DatasetArrays;

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Samples per predictBatch call (default 1024). */
  readonly batchSize?: number;
  /** Equal-width confidence bins for the ECE (default 15). */
  readonly eceBins?: number;
  /** k of the top-k accuracy (default 5, capped at the number of classes). */
  readonly topK?: number;
}

/** One class's metrics, with its name. */
export interface LabelledClassMetrics extends ClassMetrics {
  /** The class's name (its index as a string when the model has no labels). */
  readonly label: string;
}

/** What {@link evaluate} reports for a classification model. */
export interface ClassificationReport {
  /** Discriminates {@link ClassificationReport} from {@link RegressionReport}. */
  readonly task: 'classification';
  /** The model's name ({@link ModelInfo.name}). */
  readonly model: string;
  /** Samples evaluated. */
  readonly samples: number;
  /** Share of samples whose predicted class is the true one. */
  readonly accuracy: number;
  /** Samples whose predicted class is not the true one. */
  readonly errors: number;
  /** Top-k accuracy: the share of samples whose true class is among the k most probable. */
  readonly topK: {
    /** How many of the most probable classes count. */
    readonly k: number;
    /** Share of samples whose true class is among them. */
    readonly accuracy: number;
  };
  /** Mean negative log-likelihood of the true class. */
  readonly nll: number;
  /** Expected calibration error over `eceBins` equal-width confidence bins. */
  readonly ece: number;
  /** The number of bins the ECE was computed with. */
  readonly eceBins: number;
  /** `confusion[actual][predicted]`. */
  readonly confusion: number[][];
  /** Precision, recall, F1 and support of every class, by index. */
  readonly perClass: LabelledClassMetrics[];
}

/** What {@link evaluate} reports for a regression model. */
export interface RegressionReport {
  /** Discriminates {@link RegressionReport} from {@link ClassificationReport}. */
  readonly task: 'regression';
  /** The model's name ({@link ModelInfo.name}). */
  readonly model: string;
  /** Samples evaluated. */
  readonly samples: number;
  /** Values per sample. */
  readonly outputs: number;
  /** Root mean squared error over all values, in the targets' units. */
  readonly rmse: number;
  /** Mean absolute error over all values, in the targets' units. */
  readonly mae: number;
  /** Coefficient of determination (1 is perfect; 0 is no better than predicting the mean). */
  readonly r2: number;
}

/** What {@link evaluate} returns; `task` tells which kind. */
export type EvaluationReport = ClassificationReport | RegressionReport;

/** What {@link agreement} reports: how often a student predicts its teacher's class. */
export interface AgreementReport {
  /** The student's name. */
  readonly student: string;
  /** The teacher's name. */
  readonly teacher: string;
  /** Samples compared. */
  readonly samples: number;
  /** Share of samples on which both predict the same class (fidelity). */
  readonly agreement: number;
  /** Samples on which they predict different classes. */
  readonly disagreements: number;
}

const DEFAULT_BATCH_SIZE = 1024;
const DEFAULT_ECE_BINS = 15;
const DEFAULT_TOP_K = 5;

/**
 * Runs a model over a labelled dataset and computes its metrics: accuracy, top-k, NLL, calibration, confusion matrix
 * and per-class metrics for a classifier; RMSE, MAE and R² for a regression model.
 *
 * @example
 * ```ts
 * import { OnnxModel, evaluate } from 'distillery/runtime';
 *
 * const model = await OnnxModel.load('runs/mine/small.onnx');
 * const report = await evaluate(model, 'test.npz');
 * if (report.task === 'classification') console.log(report.accuracy, report.errors);
 * await model.close();
 * ```
 * @param model - an {@link OnnxModel}, a {@link PredictionPool} or any {@link Predictor}
 * @param dataset - a file path, a {@link Dataset} or typed arrays; it needs targets (`y`)
 * @param options - batch size, ECE bins, k of the top-k accuracy
 * @returns the report, by task
 * @throws {@link InputValidationError} when the dataset has no targets, or does not fit the model
 * @throws {@link DatasetError} when the dataset file cannot be read
 */
export async function evaluate(
  model: Predictor,
  dataset: DatasetSource,
  options: EvaluateOptions = {},
): Promise<EvaluationReport> {
  const data = await resolveDataset(dataset);
  const batchSize = positiveInteger(options.batchSize ?? DEFAULT_BATCH_SIZE, 'options.batchSize');
  const eceBins = positiveInteger(options.eceBins ?? DEFAULT_ECE_BINS, 'options.eceBins');
  const topK = positiveInteger(options.topK ?? DEFAULT_TOP_K, 'options.topK');
  // Targets are checked before the model runs: a bad dataset should fail fast.
  const y = requireTargets(data);
  const name = model.info.name;
  if (model.info.task === 'regression') {
    return regressionReport(
      name,
      (await predictAll(model, data, batchSize)) as RegressionPrediction[],
      y,
      data.targetWidth,
    );
  }
  const actual = classLabels(y, data.targetWidth);
  const predictions = (await predictAll(model, data, batchSize)) as ClassPrediction[];
  return classificationReport(name, predictions, actual, model.info.labels, { eceBins, topK });
}

/**
 * {@link evaluate}'s classification metrics for class probabilities computed elsewhere, one row per dataset sample in
 * its order: a teacher the runtime cannot run (one that reads raw texts with its own tokenizer, src/experiment/run.ts).
 * The predicted class is the most probable one (the first on a tie), as the runtime's.
 */
export function evaluateProbabilities(
  name: string,
  probabilities: readonly number[][],
  dataset: Dataset,
  labels: readonly string[] | null,
  options: Pick<EvaluateOptions, 'eceBins' | 'topK'> = {},
): ClassificationReport {
  const eceBins = positiveInteger(options.eceBins ?? DEFAULT_ECE_BINS, 'options.eceBins');
  const topK = positiveInteger(options.topK ?? DEFAULT_TOP_K, 'options.topK');
  if (probabilities.length !== dataset.size)
    throw new InputValidationError('probabilities', `${dataset.size} rows, one per sample`, `${probabilities.length}`);
  const actual = classLabels(requireTargets(dataset), dataset.targetWidth);
  const predictions = probabilities.map((row): ClassPrediction => {
    const index = row.reduce((best, value, i) => (value > (row[best] ?? -Infinity) ? i : best), 0);
    return { task: 'classification', index, label: labels?.[index] ?? String(index), probabilities: row, logits: null };
  });
  return classificationReport(name, predictions, actual, labels, { eceBins, topK });
}

/** {@link evaluate}'s regression metrics for values computed elsewhere, one row of outputs per dataset sample. */
export function evaluateValues(name: string, values: readonly number[][], dataset: Dataset): RegressionReport {
  if (values.length !== dataset.size)
    throw new InputValidationError('values', `${dataset.size} rows, one per sample`, `${values.length}`);
  const predictions = values.map((row): RegressionPrediction => ({ task: 'regression', values: row }));
  return regressionReport(name, predictions, requireTargets(dataset), dataset.targetWidth);
}

/** The class each sample gets from a model (the most probable one), in the dataset's order. */
export async function predictedClasses(
  model: Predictor,
  dataset: Dataset,
  options: Pick<EvaluateOptions, 'batchSize'> = {},
): Promise<Int32Array> {
  const batchSize = positiveInteger(options.batchSize ?? DEFAULT_BATCH_SIZE, 'options.batchSize');
  return classIndices((await predictAll(model, dataset, batchSize)) as ClassPrediction[]);
}

/** How often the student predicts the teacher's class, on the dataset's inputs (its labels are not needed). */
export async function agreement(
  student: Predictor,
  teacher: Predictor,
  dataset: DatasetSource,
  options: Pick<EvaluateOptions, 'batchSize'> = {},
): Promise<AgreementReport> {
  for (const [role, model] of [
    ['student', student],
    ['teacher', teacher],
  ] as const) {
    if (model.info.task !== 'classification')
      throw new InputValidationError(role, 'a classification model', `${model.info.name} (regression)`);
  }
  const data = await resolveDataset(dataset);
  const batchSize = positiveInteger(options.batchSize ?? DEFAULT_BATCH_SIZE, 'options.batchSize');
  const [studentPredictions, teacherPredictions] = await Promise.all([
    predictAll(student, data, batchSize),
    predictAll(teacher, data, batchSize),
  ]);
  const studentClasses = classIndices(studentPredictions as ClassPrediction[]);
  const teacherClasses = classIndices(teacherPredictions as ClassPrediction[]);
  const rate = predictionAgreement(studentClasses, teacherClasses);
  return {
    student: student.info.name,
    teacher: teacher.info.name,
    samples: data.size,
    agreement: rate,
    disagreements: Math.round((1 - rate) * data.size),
  };
}

export async function resolveDataset(source: DatasetSource): Promise<Dataset> {
  return typeof source === 'string' ? loadDataset(source) : datasetFromArrays(source);
}

/** predictBatch over consecutive slices of the flat x array. */
export async function predictAll(model: Predictor, data: Dataset, batchSize: number): Promise<Prediction[]> {
  const features = data.sampleShape.reduce((total, size) => total * size, 1);
  const expected = model.info.input.shape.reduce((total, size) => total * size, 1);
  if (features !== expected) {
    throw new InputValidationError(
      'dataset.x',
      `samples of ${expected} values for model ${model.info.name} (shape [${model.info.input.shape.join(', ')}])`,
      `samples of shape [${data.sampleShape.join(', ')}]`,
    );
  }
  const predictions: Prediction[] = [];
  for (let start = 0; start < data.size; start += batchSize) {
    const end = Math.min(data.size, start + batchSize);
    for (const prediction of await model.predictBatch(data.x.subarray(start * features, end * features)))
      predictions.push(prediction);
  }
  return predictions;
}

function classificationReport(
  model: string,
  predictions: ClassPrediction[],
  actual: Int32Array,
  labels: readonly string[] | null,
  settings: { eceBins: number; topK: number },
): ClassificationReport {
  const probabilities = predictions.map((prediction) => prediction.probabilities);
  const classes = probabilities[0]?.length ?? 0;
  const predicted = classIndices(predictions);
  const { eceBins } = settings;
  const k = Math.min(settings.topK, classes);
  const confusion = confusionMatrix(predicted, actual, classes);
  const errors = errorCount(predicted, actual);
  return {
    task: 'classification',
    model,
    samples: predictions.length,
    accuracy: 1 - errors / predictions.length,
    errors,
    topK: { k, accuracy: topKAccuracy(probabilities, actual, k) },
    nll: negativeLogLikelihood(probabilities, actual),
    ece: expectedCalibrationError(probabilities, actual, eceBins),
    eceBins,
    confusion,
    perClass: perClassFromConfusion(confusion).map((metrics) => ({
      ...metrics,
      label: labels?.[metrics.index] ?? String(metrics.index),
    })),
  };
}

function regressionReport(
  model: string,
  predictions: RegressionPrediction[],
  actual: ArrayLike<number>,
  targetWidth: number,
): RegressionReport {
  const outputs = predictions[0]?.values.length ?? 0;
  if (outputs !== targetWidth) {
    throw new InputValidationError(
      'dataset.y',
      `${outputs} target(s) per sample, like model ${model}'s outputs`,
      `${targetWidth}`,
    );
  }
  const predicted = Float64Array.from(predictions.flatMap((prediction) => prediction.values));
  return {
    task: 'regression',
    model,
    samples: predictions.length,
    outputs,
    rmse: rmse(predicted, actual),
    mae: mae(predicted, actual),
    r2: r2(predicted, actual, outputs),
  };
}

function classIndices(predictions: readonly ClassPrediction[]): Int32Array {
  return Int32Array.from(predictions, (prediction) => prediction.index);
}

function requireTargets(data: Dataset): NonNullable<Dataset['y']> {
  if (data.y === null)
    throw new InputValidationError('dataset.y', 'targets to evaluate against', 'a dataset without y');
  return data.y;
}

/** Class labels as Int32Array; float labels are accepted when they are whole numbers. */
function classLabels(y: NonNullable<Dataset['y']>, targetWidth: number): Int32Array {
  if (targetWidth !== 1)
    throw new InputValidationError('dataset.y', 'one class label per sample', `${targetWidth} values per sample`);
  if (y instanceof Int32Array) return y;
  const bad = y.findIndex((value) => !Number.isInteger(value));
  if (bad >= 0) throw new InputValidationError(`dataset.y[${bad}]`, 'an integer class label', describeValue(y[bad]));
  return Int32Array.from(y);
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new InputValidationError(field, 'a positive integer', describeValue(value));
  return value;
}

/** Per-sample outcomes for paired tests: whether each sample's class is right, or each sample's squared error. */
export type SampleOutcomes =
  { task: 'classification'; right: boolean[] } | { task: 'regression'; squaredError: number[] };

export async function sampleOutcomes(
  model: Predictor,
  dataset: DatasetSource,
  options: Pick<EvaluateOptions, 'batchSize'> = {},
): Promise<SampleOutcomes> {
  const data = await resolveDataset(dataset);
  const y = requireTargets(data);
  const predictions = await predictAll(
    model,
    data,
    positiveInteger(options.batchSize ?? DEFAULT_BATCH_SIZE, 'options.batchSize'),
  );
  if (model.info.task === 'classification') {
    const actual = classLabels(y, data.targetWidth);
    return {
      task: 'classification',
      right: (predictions as ClassPrediction[]).map((prediction, i) => prediction.index === actual[i]),
    };
  }
  const width = data.targetWidth;
  return {
    task: 'regression',
    squaredError: (predictions as RegressionPrediction[]).map((prediction, i) =>
      prediction.values.reduce((sum, value, j) => sum + (value - (y[i * width + j] ?? NaN)) ** 2, 0),
    ),
  };
}
