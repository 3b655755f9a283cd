import type { z } from 'zod';

/** One problem found in a config: where, and what is wrong. */
export interface ConfigIssue {
  /** Where, as written in the config: `students[1].method.temperature`. */
  path: string;
  /** What is wrong, in words (`expected a number > 0`). */
  message: string;
}

/** A config or option that failed validation. `issues` name each field at fault. */
export class ConfigError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'ConfigError';
  constructor(
    /** Every problem found, not only the first. */
    readonly issues: ConfigIssue[],
    /** The config file, when the config came from one. */
    readonly file?: string,
  ) {
    super(
      (file ? `invalid config ${file}:\n` : 'invalid config:\n') +
        issues.map((issue) => `  ${issue.path || '(root)'}: ${issue.message}`).join('\n'),
    );
  }

  /** The first field at fault (`students[1].method.temperature`). */
  get field(): string | undefined {
    return this.issues[0]?.path;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text ? `.${String(key)}` : String(key);
  }
  return text;
}

/** Flattens zod issues into `path: message` pairs; an unknown key is named in the path itself. */
export function issuesOf(error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ path: formatPath([...path, key]), message: 'unknown key' });
    } else {
      issues.push({ path: formatPath(path), message: issue.message });
    }
  }
  return issues;
}
