/**
 * Config parsing: experiment files (JSON or YAML), the facade's options, and
 * the JSON Schema generated from the zod schemas.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError, issuesOf } from './errors';
import {
  Experiment,
  type AugmentedTransferConfig,
  type DataConfig,
  type ExperimentConfig,
  type SplitValidationConfig,
  type FoldValidationConfig,
  type ModelConfig,
  type TeacherConfig,
  type TrainingSourceConfig,
} from './schema';

export {
  Data,
  DataSource,
  ShardsSource,
  TrainingSource,
  Device,
  DistillOptions,
  EvaluateOptions,
  Experiment,
  ExportOptions,
  Model,
  Name,
  OnnxTeacher,
  Student,
  Teacher,
  TrainTeacherOptions,
  Training,
  type DataConfig,
  type DataSourceConfig,
  type TrainingSourceConfig,
  type DistillOptionsInput,
  type ExperimentConfig,
  type ExperimentInput,
  type MethodConfig,
  type ModelConfig,
  type StudentConfig,
  type TeacherConfig,
  type TrainTeacherOptionsInput,
  type TrainingConfig,
} from './schema';
export { Method, methodTraits, type MethodName, type MethodTraits, type Task } from './methods';
export { ConfigError, type ConfigIssue } from './errors';

/** Parses with a zod schema, turning failures into a ConfigError that names every field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, file?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ConfigError(issuesOf(result.error), file);
  return result.data;
}

function resolveSource<
  S extends TrainingSourceConfig | SplitValidationConfig | FoldValidationConfig | AugmentedTransferConfig,
>(source: S, baseDir: string): S {
  if (source.type === 'mnist' || source.type === 'split' || source.type === 'fold' || source.type === 'augment')
    return source;
  if (source.type === 'shards') {
    const absolute = (files: string[]): string[] => files.map((file) => path.resolve(baseDir, file));
    return { ...source, x: absolute(source.x), ...(source.y ? { y: absolute(source.y) } : {}) };
  }
  const resolved = { ...source, path: path.resolve(baseDir, source.path) };
  if (resolved.type === 'file' && resolved.labelsPath) resolved.labelsPath = path.resolve(baseDir, resolved.labelsPath);
  if (resolved.type === 'csv' && typeof resolved.text.tokenizer === 'object')
    resolved.text = { ...resolved.text, tokenizer: { file: path.resolve(baseDir, resolved.text.tokenizer.file) } };
  return resolved;
}

/** Makes every relative path in the data config absolute, against `baseDir` (the experiment file's folder). */
export function resolveDataPaths(data: DataConfig, baseDir: string): DataConfig {
  return {
    ...data,
    train: resolveSource(data.train, baseDir),
    test: resolveSource(data.test, baseDir),
    ...(data.transfer ? { transfer: resolveSource(data.transfer, baseDir) } : {}),
    ...(data.validation ? { validation: resolveSource(data.validation, baseDir) } : {}),
  };
}

/** A text model's word-vector file (`vectors.path`) made absolute against `baseDir`; other models as they are. */
export function resolveModelPaths(model: ModelConfig, baseDir: string): ModelConfig {
  if (!('vectors' in model) || model.vectors === undefined) return model;
  return { ...model, vectors: { ...model.vectors, path: path.resolve(baseDir, model.vectors.path) } };
}

export function resolveTeacherPaths(teacher: TeacherConfig, baseDir: string): TeacherConfig {
  switch (teacher.type) {
    case 'checkpoint':
    case 'onnx':
    case 'huggingface-onnx':
    case 'huggingface':
      return { ...teacher, path: path.resolve(baseDir, teacher.path) };
    case 'outputs':
      return {
        ...teacher,
        path: path.resolve(baseDir, teacher.path),
        ...(teacher.test !== undefined ? { test: path.resolve(baseDir, teacher.test) } : {}),
        ...(teacher.validation !== undefined ? { validation: path.resolve(baseDir, teacher.validation) } : {}),
      };
    case 'module':
      return {
        ...teacher,
        path: path.resolve(baseDir, teacher.path),
        cache:
          typeof teacher.cache === 'string' && teacher.cache !== 'auto'
            ? path.resolve(baseDir, teacher.cache)
            : teacher.cache,
      };
    case 'function':
      return {
        ...teacher,
        cache:
          typeof teacher.cache === 'string' && teacher.cache !== 'auto'
            ? path.resolve(baseDir, teacher.cache)
            : teacher.cache,
      };
    case 'train':
      return { ...teacher, model: resolveModelPaths(teacher.model, baseDir) };
    case 'ensemble':
      return {
        ...teacher,
        members: teacher.members.map((member) =>
          member.type === 'checkpoint'
            ? { ...member, path: path.resolve(baseDir, member.path) }
            : { ...member, model: resolveModelPaths(member.model, baseDir) },
        ),
      };
    default:
      return teacher;
  }
}

/** Validates an experiment and resolves its relative paths against `baseDir`. */
export function parseExperiment(value: unknown, options: { baseDir?: string; file?: string } = {}): ExperimentConfig {
  const experiment = parseWith(Experiment, value, options.file);
  const baseDir = options.baseDir ?? process.cwd();
  return {
    ...experiment,
    data: resolveDataPaths(experiment.data, baseDir),
    teacher: resolveTeacherPaths(experiment.teacher, baseDir),
    students: experiment.students.map((student) => ({ ...student, model: resolveModelPaths(student.model, baseDir) })),
  };
}

/** Reads a .json, .yaml or .yml experiment file; paths in it are relative to its folder. */
export function loadExperimentFile(file: string): ExperimentConfig {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(
      [
        {
          path: '',
          message: `cannot read the experiment file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        },
      ],
      absolute,
    );
  }
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(absolute) ? YAML.parse(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      [{ path: '', message: `not valid ${/\.ya?ml$/i.test(absolute) ? 'YAML' : 'JSON'}: ${(error as Error).message}` }],
      absolute,
    );
  }
  return parseExperiment(value, { baseDir: path.dirname(absolute), file: absolute });
}

/** The experiment file's JSON Schema (draft 2020-12), generated from the zod schema — for editor completion. */
export function experimentJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(Experiment, { io: 'input', unrepresentable: 'any' });
}
