/**
 * `distillery verify <run-folder>` / `verifyRun()`: is this folder exactly what its run wrote, and does every
 * model say truthfully where it came from? Run it before shipping a model; `run` calls it at the end.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel, graphFacts } from '../runtime/model-file';
import { MANIFEST, readManifest, runFiles, type Manifest } from '../io/run-folder';
import type { ModelReport, RunReport, TeacherReport } from './report-types';

/** What {@link verifyRun} found: every artefact of a run folder checked against its manifest's sha256 and size. */
export interface VerifyResult {
  /** The run folder checked. */
  folder: string;
  /** true when every artefact matches its manifest entry. */
  ok: boolean;
  /** One line per mismatch, each naming the file. */
  problems: string[];
  /** Artefacts checked (from the manifest). */
  checked: number;
}

const MODEL_FILE = /\.(onnx|pt)$/;

/** Checks a finished run folder; never throws for a mismatch (they are listed), only for an unreadable folder. */
export function verifyRun(folder: string): VerifyResult {
  const dir = path.resolve(folder);
  const problems: string[] = [];
  let manifest: Manifest | null;
  try {
    manifest = readManifest(dir);
  } catch (error) {
    return { folder: dir, ok: false, problems: [`${MANIFEST}: unreadable (${(error as Error).message})`], checked: 0 };
  }
  if (!manifest)
    return {
      folder: dir,
      ok: false,
      problems: [`${MANIFEST}: missing — not a finished Distillery run folder`],
      checked: 0,
    };
  if (!manifest.complete)
    problems.push(`${MANIFEST}: the run did not finish (complete: false); resume it with --resume`);

  const hashes = new Map<string, string>();
  for (const entry of manifest.artefacts) {
    const file = path.join(dir, ...entry.path.split('/'));
    if (!fs.existsSync(file)) {
      problems.push(`${entry.path}: missing (listed in the manifest)`);
      continue;
    }
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    hashes.set(entry.path, sha256);
    if (sha256 !== entry.sha256)
      problems.push(
        `${entry.path}: changed since the run (sha256 ${sha256.slice(0, 12)}…, the manifest says ${entry.sha256.slice(0, 12)}…)`,
      );
  }
  const listed = new Set(manifest.artefacts.map((entry) => entry.path));
  for (const relative of runFiles(dir)) {
    if (MODEL_FILE.test(relative) && !listed.has(relative))
      problems.push(`${relative}: a model file the run did not write (stray)`);
  }
  problems.push(...checkReport(dir, manifest, hashes));
  return { folder: dir, ok: problems.length === 0, problems, checked: manifest.artefacts.length };
}

/** Each model's ONNX metadata against report.json, and each student's recorded teacher against the teacher artefacts. */
function checkReport(dir: string, manifest: Manifest, hashes: ReadonlyMap<string, string>): string[] {
  const reportFile = path.join(dir, 'report.json');
  if (!fs.existsSync(reportFile)) return ['report.json: missing'];
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as RunReport;
  const problems: string[] = [];
  const listedInReport = new Set(report.artefacts.map((entry) => entry.path));
  const listed = new Set(manifest.artefacts.map((entry) => entry.path));
  for (const entry of manifest.artefacts)
    if (!listedInReport.has(entry.path)) problems.push(`report.json: does not list ${entry.path}`);
  for (const entry of report.artefacts)
    if (!listed.has(entry.path)) problems.push(`report.json: lists ${entry.path}, which the manifest does not`);

  // What a student's `distillery.teacher.sha256` may name: the teacher's own files, as the run recorded them.
  const teacherFiles = manifest.artefacts.filter(
    (entry) =>
      entry.role === 'teacher-model' ||
      (entry.role === 'checkpoint' && entry.path === `checkpoints/${report.teacher.name}.pt`),
  );
  const teacherHashes = new Set(teacherFiles.map((entry) => hashes.get(entry.path) ?? entry.sha256));
  // A teacher that reads raw texts is not exported: its students name the model file it ran, as the run recorded it.
  if (report.teacher.source) teacherHashes.add(report.teacher.source.sha256);
  for (const model of [report.teacher, ...report.students]) problems.push(...checkModel(dir, model, teacherHashes));
  return problems;
}

function checkModel(dir: string, model: ModelReport | TeacherReport, teacherHashes: ReadonlySet<string>): string[] {
  const onnx = model.onnx;
  if (onnx === null) return []; // a teacher that reads raw texts: no .onnx in the folder
  const file = path.join(dir, onnx);
  if (!fs.existsSync(file)) return [`${onnx}: missing (report.json's ${model.role} ${model.name})`];
  let metadata: ReadonlyMap<string, string>;
  try {
    metadata = graphFacts(decodeModel(new Uint8Array(fs.readFileSync(file)), file)).metadata;
  } catch (error) {
    return [`${onnx}: not a readable ONNX model (${(error as Error).message})`];
  }
  if (!metadata.has('distillery.name')) return []; // a black-box teacher: not ours, nothing recorded to compare
  const problems: string[] = [];
  const expect = (key: string, recorded: unknown): void => {
    const value = metadata.get(`distillery.${key}`);
    if (value !== undefined && value !== recorded)
      problems.push(`${onnx}: distillery.${key} is ${value}, report.json says ${String(recorded)}`);
  };
  expect('name', model.sameAs ?? model.name); // a labels twin's entry is its student's file
  expect('role', model.role);
  expect('params', String(model.params));
  const method = metadata.get('distillery.method');
  if (method !== undefined && JSON.stringify(JSON.parse(method)) !== JSON.stringify(model.method)) {
    problems.push(`${onnx}: distillery.method differs from report.json's`);
  }
  if (model.role === 'student') {
    const teacher = JSON.parse(metadata.get('distillery.teacher') ?? 'null') as { name: string; sha256: string } | null;
    if (teacher && !teacherHashes.has(teacher.sha256)) {
      problems.push(
        `${onnx}: its teacher (distillery.teacher.sha256 ${teacher.sha256.slice(0, 12)}…) is none of this folder's teacher files — its provenance is false`,
      );
    }
  }
  return problems;
}
