import {
  answersFrom,
  concatAnswers,
  selectRows,
  TeacherOutputError,
  type AnswersOptions,
  type Answers,
} from '../src/teacher/answers';

const CLASSES = ['cat', 'dog', 'bird'];
const base: AnswersOptions = { kind: 'auto', classNames: CLASSES, firstRow: 0, source: 'teacher.call' };

function read(raw: readonly unknown[], options: Partial<AnswersOptions> = {}): Answers {
  return answersFrom(raw, { ...base, ...options });
}

/** The TeacherOutputError that reading throws (fails the test if it does not throw one). */
function errorOf(raw: readonly unknown[], options: Partial<AnswersOptions> = {}): TeacherOutputError {
  try {
    read(raw, options);
  } catch (error) {
    expect(error).toBeInstanceOf(TeacherOutputError);
    return error as TeacherOutputError;
  }
  throw new Error('expected a TeacherOutputError');
}

describe('answersFrom: what each form of answer reads as', () => {
  test('declared probabilities: plain and typed arrays, row-major float32', () => {
    const answers = read([[0.7, 0.2, 0.1], Float32Array.of(0, 0, 1), Float64Array.of(0.25, 0.25, 0.5)], {
      kind: 'probabilities',
    });
    expect(answers).toMatchObject({ kind: 'probabilities', rows: 3, classes: 3 });
    expect(answers.values).toBeInstanceOf(Float32Array);
    expect(Array.from(answers.values)).toEqual([0.7, 0.2, 0.1, 0, 0, 1, 0.25, 0.25, 0.5].map(Math.fround));
  });

  test('declared logits: any finite numbers, no sum', () => {
    const answers = read([[2.5, -1, 0]], { kind: 'logits' });
    expect(answers).toMatchObject({ kind: 'logits', rows: 1, classes: 3 });
    expect(Array.from(answers.values)).toEqual([2.5, -1, 0]);
  });

  test('labels: class names, integer indices and { label }, one value per row', () => {
    const answers = read(['dog', 2, { label: 'cat' }, { label: 1 }], { kind: 'labels' });
    expect(answers).toMatchObject({ kind: 'labels', rows: 4, classes: 3 });
    expect(Array.from(answers.values)).toEqual([1, 2, 0, 1]);
  });

  test('objects say their kind under auto', () => {
    expect(read([{ logits: [0.1, 0.2, 0.3] }]).kind).toBe('logits');
    expect(read([{ probabilities: [2 / 3, 1 / 6, 1 / 6] }]).kind).toBe('probabilities');
    // An object that says its kind decides the block, bare arrays follow it.
    expect(read([{ logits: [0.1, 0.2, 0.3] }, [0.1, 0.1, 0.1]]).kind).toBe('logits');
    expect(read(['bird', 0]).kind).toBe('labels');
  });

  test('regression: numbers or arrays of `outputs` numbers, reported as logits', () => {
    const single = read([1.5, [-2], { logits: [3] }], { task: 'regression', classNames: [] });
    expect(single).toMatchObject({ kind: 'logits', rows: 3, classes: 1 });
    expect(Array.from(single.values)).toEqual([1.5, -2, 3]);
    const pairs = read([[1, 2]], { task: 'regression', classNames: [], outputs: 2 });
    expect(pairs).toMatchObject({ kind: 'logits', classes: 2 });
    const error = errorOf(['cat'], { task: 'regression', classNames: [] });
    expect(error.message).toContain('expected a number');
    expect(errorOf([1], { task: 'regression', classNames: [], kind: 'labels' }).message).toContain(
      "kind 'labels' needs a classification task",
    );
  });
});

describe("answersFrom: kind 'auto'", () => {
  test('every value of the first block in [0, 1]: probabilities; one outside: logits', () => {
    expect(
      read([
        [0.2, 0.3, 0.5],
        [1, 0, 0],
      ]).kind,
    ).toBe('probabilities');
    expect(
      read([
        [0.2, 0.3, 0.5],
        [1.5, 0, 0],
      ]).kind,
    ).toBe('logits');
    expect(read([[-0.1, 0.3, 0.8]]).kind).toBe('logits');
  });

  test('the decision is held: a later block is read as the first was, and says why when it does not fit', () => {
    const first = read([[0.2, 0.3, 0.5]]);
    expect(first.kind).toBe('probabilities');
    // Values in [0, 1] that a fresh 'auto' would call probabilities stay logits once logits were decided.
    expect(read([[0.2, 0.3, 0.5]], { decided: 'logits' }).kind).toBe('logits');
    const error = errorOf([[2.5, -1, 0]], { decided: first.kind, firstRow: 32 });
    expect(error.row).toBe(32);
    expect(error.message).toContain(
      'teacher.call, row 33: class "cat": expected a probability in [0, 1], received 2.5',
    );
    expect(error.message).toContain("kind 'auto' decided probabilities on the first answers and holds it");
  });

  test('probabilities by the range rule that do not sum to 1: the error names the sum and the rule', () => {
    const error = errorOf([
      [0.5, 0.5, 0],
      [0.5, 0.3, 0.1],
    ]);
    expect(error.row).toBe(1);
    expect(error.message).toContain('row 2: expected probabilities that sum to 1 (within 0.001), received');
    expect(error.message).toContain('sum to 0.9');
    expect(error.message).toContain("kind 'auto' read the answers as probabilities because every value");
    expect(error.message).toContain("declare kind 'logits' if they are logits");
  });

  test('a block that mixes labels and arrays, or probabilities and logits, is an error', () => {
    const mixed = errorOf([[0.1, 0.2, 0.7], 'cat']);
    expect(mixed.row).toBe(1);
    expect(mixed.message).toContain('expected an array of numbers like row 1: one kind per teacher, received a label');
    const kinds = errorOf([{ probabilities: [1, 0, 0] }, { logits: [1, 2, 3] }]);
    expect(kinds.message).toContain('expected probabilities like row 1: one kind per teacher, received logits');
  });

  test('no answers: nothing to decide from', () => {
    expect(errorOf([]).message).toContain("kind 'auto' is decided on the first answers, and there were none");
    expect(read([], { kind: 'logits' })).toMatchObject({ kind: 'logits', rows: 0, classes: 3 });
  });
});

describe('answersFrom: errors name the source, the row, what was expected and what was received', () => {
  test('fields: name, source, 0-based row, line (null unless given), field', () => {
    const error = errorOf(
      [
        [0.1, 0.2, 0.7],
        [0.1, Number.NaN, 0.9],
      ],
      { firstRow: 10 },
    );
    expect(error.name).toBe('TeacherOutputError');
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ source: 'teacher.call', row: 11, line: null, field: 'class "dog"' });
    expect(error.message).toBe('teacher.call, row 12: class "dog": expected a finite number, received NaN');
  });

  test('wrong length', () => {
    const error = errorOf([[1, 2]], { kind: 'logits', firstRow: 4 });
    expect(error.row).toBe(4);
    expect(error.message).toContain(
      'row 5: expected an array of 3 logits (one per class: "cat", "dog", "bird"), received an array of length 2',
    );
  });

  test.each<[string, unknown, string]>([
    ['Infinity', Infinity, 'received Infinity'],
    ['-Infinity', -Infinity, 'received -Infinity'],
    ['null', null, 'received null'],
    ['a string', '0.5', 'received string "0.5"'],
  ])('a value that is %s', (_, value, received) => {
    const error = errorOf([[0.5, value, 0.5]], { kind: 'logits' });
    expect(error.message).toContain(`class "dog": expected a finite number, ${received}`);
  });

  test('an answer that is null, a boolean or an unknown object', () => {
    expect(errorOf([null], { kind: 'probabilities' }).message).toContain(
      'expected an array of 3 probabilities (one per class: "cat", "dog", "bird"), received null',
    );
    expect(errorOf([true]).message).toContain('received boolean');
    expect(errorOf([{ probs: [1, 0, 0] }]).message).toContain(
      'expected an object with exactly one key: probabilities, logits or label, received an object with keys probs',
    );
    expect(errorOf([{ label: 'cat', logits: [1, 2, 3] }]).message).toContain(
      'received an object with keys label, logits',
    );
  });

  test('probabilities outside [0, 1] and rows that do not sum to 1', () => {
    expect(errorOf([[1.2, -0.2, 0]], { kind: 'probabilities' }).message).toContain(
      'class "cat": expected a probability in [0, 1], received 1.2',
    );
    const sum = errorOf([[0.5, 0.3, 0.1]], { kind: 'probabilities' });
    expect(sum.message).toBe(
      'teacher.call, row 1: expected probabilities that sum to 1 (within 0.001), received probabilities that sum to 0.9',
    );
    // Float32 rounding is within the tolerance.
    expect(read([[0.1, 0.2, 0.7000004]], { kind: 'probabilities' }).rows).toBe(1);
  });

  test('labels: an unknown class name, a non-integer or out-of-range index', () => {
    const name = errorOf(['cow'], { kind: 'labels' });
    expect(name.message).toContain(
      'label: expected a class name of the data ("cat", "dog", "bird"), received string "cow"',
    );
    expect(name.field).toBe('label');
    expect(errorOf([1.5], { kind: 'labels' }).message).toContain(
      'label: expected a class name, or a class index: an integer from 0 to 2, received 1.5',
    );
    expect(errorOf([3], { kind: 'labels' }).message).toContain('an integer from 0 to 2, received 3');
    expect(errorOf([-1]).message).toContain('an integer from 0 to 2, received -1');
    expect(errorOf([{ label: null }]).message).toContain('received null');
  });

  test('a long class list is cut short in messages', () => {
    const many = Array.from({ length: 10 }, (_, index) => `c${index}`);
    expect(errorOf(['x'], { classNames: many }).message).toContain('"c0", "c1", "c2", "c3", "c4", "c5", … 10 in all');
  });

  test('an answer that does not fit the declared kind', () => {
    expect(errorOf(['cat'], { kind: 'probabilities' }).message).toContain(
      'expected an array of 3 probabilities (one per class: "cat", "dog", "bird"), received string "cat"',
    );
    expect(errorOf([{ logits: [1, 2, 3] }], { kind: 'probabilities' }).message).toContain(
      'received an object with logits',
    );
    expect(errorOf([[0.2, 0.3, 0.5]], { kind: 'labels' }).message).toContain(
      'expected a class name or a class index from 0 to 2, received an array of length 3',
    );
  });

  test('lines and the config path appear in the message when given', () => {
    const error = errorOf(
      [
        [0.2, 0.3, 0.5],
        [1, 2],
      ],
      {
        kind: 'logits',
        source: 'out.jsonl',
        where: 'teacher.path',
        lines: [3, 7],
      },
    );
    expect(error).toMatchObject({ source: 'out.jsonl', row: 1, line: 7, where: 'teacher.path' });
    expect(error.message).toMatch(/^out\.jsonl \(teacher\.path\), line 7 \(row 2\): expected an array of 3 logits/);
  });

  test('classification without class names', () => {
    expect(errorOf([[1]], { classNames: [] }).message).toContain("needs the data's class names");
  });
});

describe('concatAnswers and selectRows', () => {
  const a = read([[0.1, 0.2, 0.7]], { kind: 'probabilities' });
  const b = read(
    [
      [1, 0, 0],
      [0, 1, 0],
    ],
    { kind: 'probabilities' },
  );

  test('blocks one after the other', () => {
    const all = concatAnswers([a, b]);
    expect(all).toMatchObject({ kind: 'probabilities', rows: 3, classes: 3 });
    expect(Array.from(all.values)).toEqual([0.1, 0.2, 0.7, 1, 0, 0, 0, 1, 0].map(Math.fround));
    expect(() => concatAnswers([a, read(['cat'])])).toThrow(/a block of labels × 3 after one of probabilities × 3/);
    expect(() => concatAnswers([])).toThrow(TypeError);
  });

  test('rows picked in the order given', () => {
    const all = concatAnswers([a, b]);
    const picked = selectRows(all, [2, 0]);
    expect(picked.rows).toBe(2);
    expect(Array.from(picked.values)).toEqual([0, 1, 0, 0.1, 0.2, 0.7].map(Math.fround));
    const labels = selectRows(read(['cat', 'dog', 'bird']), [1, 1]);
    expect(Array.from(labels.values)).toEqual([1, 1]);
    expect(() => selectRows(all, [3])).toThrow(RangeError);
  });
});
