/**
 * What turns a raw input — a table row, an encoded image — into the network's input tensor, as data.
 *
 * A `Preprocess` is fitted once on the training split (src/data), recorded in every model's ONNX
 * metadata (`distillery.preprocess`), and applied by the one implementation in this folder: by src/data
 * when it encodes the training, test and transfer sets for the engine, and by the runtime's
 * `predict(row)` / `predict(pngBuffer)`. Training and serving therefore cannot drift. The engine (Python)
 * never applies it: it receives encoded arrays and records the spec verbatim.
 */
import { z } from 'zod';

/** One table column's encoding. Its output slots follow the order of `TablePreprocess.columns`. */
export const TableColumn = z.discriminatedUnion('type', [
  z.strictObject({
    /** The column's name in the table. */
    name: z.string(),
    /** A number, one slot. */
    type: z.literal('numeric'),
    /** The value a missing cell takes: the training mean, or the declared constant. */
    fill: z.number(),
  }),
  z.strictObject({
    /** The column's name in the table. */
    name: z.string(),
    /** true or false (also `"true"`/`"false"`, 1/0), one slot. */
    type: z.literal('boolean'),
    /** true → 1, false → 0; a missing cell takes this (the training share of true). */
    fill: z.number(),
  }),
  z.strictObject({
    /** The column's name in the table. */
    name: z.string(),
    /** One of a set of strings, one-hot encoded. */
    type: z.literal('categorical'),
    /** One output slot each, in this order. A missing cell is the category `missingCategory` when training had missing cells. */
    categories: z.array(z.string()),
    /** The category that stands for a missing cell (present in `categories`), or null when training had none. */
    missingCategory: z.string().nullable(),
    /** A category never seen in training: all of this column's slots 0, or an error. */
    unseen: z.enum(['zeros', 'error']),
  }),
  z.strictObject({
    /** The column's name in the table. */
    name: z.string(),
    /**
     * Free text, tokenized by the tokenizer.json stored in the model (`distillery.tokenizer` metadata) into
     * `maxLength` token-id slots, ids as floats, right-padded with `padId`. At most one per table, always the last
     * column. A missing cell (absent, null, '') and whitespace-only text encode to zero tokens (all pad).
     */
    type: z.literal('text'),
    /** Token-id slots: longer texts are truncated to this many tokens. */
    maxLength: z.number().int().positive(),
    /** Which end a text longer than `maxLength` tokens loses: 'right' keeps the first tokens, 'left' the last. */
    truncation: z.enum(['right', 'left']),
    /** The id of the padding token ([PAD]), written to the slots past a text's tokens. */
    padId: z.number().int().nonnegative(),
    /** The tokenizer's vocabulary size: every id is in [0, vocabSize). */
    vocabSize: z.number().int().positive(),
    /** sha256 (hex) of the tokenizer.json bytes; the runtime checks the model's `distillery.tokenizer` against it. */
    tokenizerSha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex sha256'),
  }),
]);

export const TablePreprocess = z
  .strictObject({
    /** The input is a table row. */
    kind: z.literal('table'),
    /** The feature columns, in the order of the input's slots. */
    columns: z.array(TableColumn).min(1),
    /** The label column (classification; classes are the model's labels) or the target columns (regression). */
    targets: z.array(z.string()),
  })
  .refine(
    (spec) => {
      const texts = spec.columns.filter((column) => column.type === 'text').length;
      return texts === 0 || (texts === 1 && spec.columns[spec.columns.length - 1]?.type === 'text');
    },
    { error: 'at most one text column, and it must be the last column', path: ['columns'] },
  );

export const ImagePreprocess = z.strictObject({
  /** The input is an encoded image (PNG, JPEG or WebP bytes). */
  kind: z.literal('image'),
  /** [height, width] the image is resized to. */
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  /** 1: greyscale; 3: RGB. */
  channels: z.union([z.literal(1), z.literal(3)]),
  /** How the aspect ratio is handled when resizing (sharp's `fit`): fill stretches, contain pads, cover crops. */
  fit: z.enum(['fill', 'contain', 'cover']),
});

export const Preprocess = z.discriminatedUnion('kind', [TablePreprocess, ImagePreprocess]);

export type TableColumnSpec = z.output<typeof TableColumn>;
/** A text column's encoding: its token-id slots and the tokenizer it needs. */
export type TextColumnSpec = Extract<TableColumnSpec, { type: 'text' }>;
export type TablePreprocessSpec = z.output<typeof TablePreprocess>;
export type ImagePreprocessSpec = z.output<typeof ImagePreprocess>;
/**
 * How a raw table row or encoded image becomes a model's input tensor, as recorded in its `distillery.preprocess`
 * metadata: fitted on the training split, applied by `predict(row)` / `predict(imageBytes)` (docs/RUNTIME.md).
 * @useDeclaredType
 */
export type PreprocessSpec = z.output<typeof Preprocess>;

/** A raw table row as a service holds it: column name → value (missing: absent, null, undefined or ''). */
export type TableRow = Readonly<Record<string, string | number | boolean | null | undefined>>;
