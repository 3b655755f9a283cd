/**
 * `POST /v1/models/:name/predict` as `multipart/form-data`: image files uploaded as they are, without base64 (a
 * third larger, and a JSON string to build and parse), one input per file part in the order sent. For image models
 * only. @fastify/multipart reads the parts; the limits here (file size, file count, all files together) answer 413
 * naming the part, before the image is decoded.
 */
import fastifyMultipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModelInfo } from '../runtime/types';
import { HttpError } from './errors';

/** How much a multipart request may upload. */
export interface UploadLimits {
  /** One file's bytes at most. */
  readonly maxFileBytes: number;
  /** File parts in one request at most. */
  readonly maxFiles: number;
  /** All of a request's files together, bytes (the server's body limit). */
  readonly totalBytes: number;
}

/** One uploaded file: its bytes, and what names it in errors. */
export interface UploadedFile {
  /** The form's name for the part (e.g. `image`). */
  readonly part: string;
  /** The file name the client gave, or '' for none. */
  readonly filename: string;
  readonly bytes: Uint8Array;
}

/**
 * A multipart predict request, read: its files in order. The request body of such a request, set before validation
 * (the route's zod schema describes a JSON body; the multipart reader has checked this one).
 */
export class UploadedFiles {
  constructor(readonly files: readonly UploadedFile[]) {}
}

/** Text fields a client may send beside its files, such as a form's submit button: refused (400), but read. */
const FIELD_PARTS = 8;
/** A text field's bytes at most: no field carries an input. */
const FIELD_BYTES = 1024;

/** Adds the multipart reader: parts are read only where a route asks (the predict route's preValidation). */
export async function registerUploads(app: FastifyInstance, limits: UploadLimits): Promise<void> {
  await app.register(fastifyMultipart, {
    throwFileSizeLimit: true,
    limits: {
      fileSize: limits.maxFileBytes,
      files: limits.maxFiles,
      fields: FIELD_PARTS,
      fieldSize: FIELD_BYTES,
      parts: limits.maxFiles + FIELD_PARTS,
    },
  });
}

/**
 * Reads a multipart request's file parts into its body ({@link UploadedFiles}). `info` is the model's, known from the
 * URL: a model that takes no images refuses the request (415) before a byte of it is read.
 */
export async function readUploads(request: FastifyRequest, info: ModelInfo, limits: UploadLimits): Promise<void> {
  if (info.preprocess?.kind !== 'image')
    throw new HttpError({
      status: 415,
      code: 'unsupported-media-type',
      message: `model ${info.name} takes no image files: send its inputs as application/json`,
      field: 'headers.content-type',
    });
  const files = await readFiles(request, limits);
  if (files.length === 0)
    throw new HttpError({
      status: 400,
      code: 'invalid-request',
      message: 'a multipart predict request needs at least one file part (one image per part)',
      field: 'inputs',
    });
  request.body = new UploadedFiles(files);
}

async function readFiles(request: FastifyRequest, limits: UploadLimits): Promise<UploadedFile[]> {
  const files: UploadedFile[] = [];
  let total = 0;
  try {
    for await (const part of request.parts()) {
      const where = `inputs[${files.length}]`;
      if (part.type === 'field') throw fieldPart(part.fieldname);
      const bytes = await fileBytes(part.toBuffer(), where, part.fieldname, part.filename, limits.maxFileBytes);
      total += bytes.length;
      if (total > limits.totalBytes)
        throw tooLarge('body-too-large', where, `the files together exceed the ${limits.totalBytes}-byte body limit`);
      files.push({ part: part.fieldname, filename: part.filename, bytes });
    }
  } catch (error) {
    throw partsFailure(error, files.length, limits);
  }
  return files;
}

async function fileBytes(
  reading: Promise<Buffer>,
  where: string,
  part: string,
  filename: string,
  maxFileBytes: number,
): Promise<Buffer> {
  try {
    return await reading;
  } catch (error) {
    if (codeOf(error) !== 'FST_REQ_FILE_TOO_LARGE') throw error;
    const named = filename === '' ? `part "${part}"` : `part "${part}" (${filename})`;
    throw tooLarge('file-too-large', where, `${named} is larger than the ${maxFileBytes}-byte file limit`);
  }
}

function fieldPart(name: string): HttpError {
  return new HttpError({
    status: 400,
    code: 'invalid-request',
    message: `form field "${name}" is not a file: every part of a multipart predict request is an image file`,
    field: `form.${name}`,
  });
}

function tooLarge(code: string, field: string, message: string): HttpError {
  return new HttpError({ status: 413, code, message, field });
}

/** A failure while reading the parts → its answer: ours as it is, the reader's limits as 413, the rest as 400. */
function partsFailure(error: unknown, read: number, limits: UploadLimits): unknown {
  if (error instanceof HttpError) return error;
  switch (codeOf(error)) {
    case 'FST_FILES_LIMIT':
      return tooLarge('too-many-files', `inputs[${read}]`, `more than ${limits.maxFiles} files in one request`);
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return tooLarge('too-many-parts', 'body', `more than ${limits.maxFiles} files and ${FIELD_PARTS} fields`);
    default: {
      // Busboy's own errors (a cut-off body, no boundary) and a client gone mid-upload.
      const detail = error instanceof Error ? error.message : String(error);
      return new HttpError({
        status: 400,
        code: 'malformed-multipart',
        message: `malformed multipart body: ${detail}`,
        field: 'body',
      });
    }
  }
}

function codeOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { code?: string }).code : undefined;
}

/**
 * The OpenAPI document's predict request, with the multipart form beside the JSON body (the route's zod schema
 * writes only the JSON one).
 */
export function withUploadsDocumented<T>(document: T, path: string): T {
  const body = (document as { paths?: Record<string, { post?: { requestBody?: { content?: object } } }> }).paths?.[path]
    ?.post?.requestBody;
  if (body === undefined) return document;
  body.content = {
    ...body.content,
    'multipart/form-data': {
      schema: {
        type: 'object',
        description: 'image files, one input per file part, in order (image models only; `accepts` lists `image`)',
        properties: { image: { type: 'array', items: { type: 'string', format: 'binary' } } },
      },
    },
  };
  return document;
}
