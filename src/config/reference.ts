/**
 * The config reference (docs/CONFIG.md), generated from the experiment's JSON
 * Schema — itself generated from the zod schemas — so it cannot drift.
 */
import { experimentJsonSchema } from './index';

interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  additionalProperties?: unknown;
}

const variants = (schema: JsonSchema): JsonSchema[] => schema.oneOf ?? schema.anyOf ?? [];
const isObject = (schema: JsonSchema): boolean => schema.type === 'object' && !!schema.properties;
const variantName = (schema: JsonSchema): string | undefined => {
  const type = schema.properties?.type;
  return type?.const !== undefined
    ? typeof type.const === 'string'
      ? type.const
      : JSON.stringify(type.const)
    : undefined;
};

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(' \\| ');
  const options = variants(schema);
  if (options.length) {
    const names = options.map(variantName);
    if (names.every(Boolean)) return `one of: ${names.map((name) => `\`${name ?? ''}\``).join(', ')} (by \`type\`)`;
    return options.map(typeOf).join(' \\| ');
  }
  if (schema.type === 'array') return `${schema.items ? typeOf(schema.items) : 'any'}[]`;
  if (schema.type === 'integer' || schema.type === 'number') {
    const bounds = [
      schema.minimum !== undefined ? `≥ ${schema.minimum}` : '',
      schema.exclusiveMinimum !== undefined ? `> ${schema.exclusiveMinimum}` : '',
      schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${schema.maximum}` : '',
    ].filter(Boolean);
    return `${schema.type}${bounds.length ? ` (${bounds.join(', ')})` : ''}`;
  }
  return Array.isArray(schema.type) ? schema.type.join(' \\| ') : (schema.type ?? 'any');
}

const anchor = (title: string): string =>
  title
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .trim()
    .replace(/ /g, '-');

class Reference {
  private readonly sections: string[] = [];
  /** Each distinct schema is described once, under the first title it was linked from. */
  private readonly titles = new Map<string, string>();
  private readonly rendered = new Set<string>();

  /** The section title a schema is (or will be) rendered under: the first place it appears. */
  private titleFor(schema: JsonSchema, title: string): string {
    const key = JSON.stringify(schema);
    const known = this.titles.get(key);
    if (known !== undefined) return known;
    this.titles.set(key, title);
    return title;
  }

  /** Renders an object schema as a table, then its nested objects as their own sections. */
  object(requestedTitle: string, schema: JsonSchema): void {
    const key = JSON.stringify(schema);
    if (this.rendered.has(key)) return;
    this.rendered.add(key);
    const title = this.titleFor(schema, requestedTitle);
    const rows: string[] = [];
    const nested: [string, JsonSchema][] = [];
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      if (name === '$schema') continue;
      const items = property.type === 'array' ? property.items : undefined;
      const array = items !== undefined;
      const target = items ?? property;
      const childTitle = `${title}.${name}${array ? '[]' : ''}`;
      let type = typeOf(property);
      const options = variants(target).filter(isObject);
      if (isObject(target)) {
        const linked = this.titleFor(target, childTitle);
        nested.push([childTitle, target]);
        type = this.link(linked, array ? 'object[]' : 'object');
      } else if (options.length) {
        const links = options.map((option) => {
          const name = variantName(option);
          const optionTitle = name === undefined ? childTitle : `${childTitle} (type: ${name})`;
          nested.push([optionTitle, option]);
          return this.link(this.titleFor(option, optionTitle), name === undefined ? 'object' : `\`${name}\``);
        });
        // A union of values and one object (e.g. `'auto'` or the options themselves): the values, then the object.
        const values = variants(target)
          .filter((option) => !isObject(option))
          .map(typeOf);
        type = values.length
          ? [...values, ...links].join(' \\| ')
          : `one of ${links.join(', ')}${array ? ' (array)' : ''}`;
      }
      const required = schema.required?.includes(name) && property.default === undefined;
      const fallback =
        property.default === undefined ? (required ? '**required**' : '—') : `\`${JSON.stringify(property.default)}\``;
      rows.push(
        `| \`${name}\` | ${type} | ${fallback} | ${(property.description ?? target.description ?? '').replace(/\|/g, '\\|')} |`,
      );
    }
    const intro = schema.description ? `${schema.description}\n\n` : '';
    this.sections.push(
      `### ${title}\n\n${intro}| field | type | default | description |\n| --- | --- | --- | --- |\n${rows.join('\n')}\n`,
    );
    for (const [childTitle, child] of nested) this.object(childTitle, child);
  }

  link(title: string, text = title): string {
    return `[${text}](#${anchor(title)})`;
  }

  markdown(): string {
    return this.sections.join('\n');
  }
}

/** docs/CONFIG.md: every field of the experiment file, its type, default and meaning. */
export function configReferenceMarkdown(): string {
  const schema = experimentJsonSchema() as JsonSchema;
  const reference = new Reference();
  reference.object('experiment', schema);
  return [
    '# Experiment file reference',
    '',
    '<!-- Generated by `npm run docs` (`distillery schema --markdown`) from the zod schemas in src/config/schema.ts. Do not edit. -->',
    '',
    "An experiment file is JSON or YAML. Paths in it are relative to the file's folder. Unknown keys are errors.",
    'The JSON Schema (for editor completion) is [experiment.schema.json](experiment.schema.json): `distillery schema`.',
    '',
    reference.markdown(),
  ].join('\n');
}
