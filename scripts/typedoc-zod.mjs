// A TypeDoc plugin (typedoc.json "plugin") that keeps the API reference readable where zod's types meet it.
//
// zod schemas are values whose types spell out every nested field (ZodObject<{ data: ZodObject<{ … }> … }>), and
// the types inferred from them (z.infer) have no name of their own for TypeScript, so TypeDoc expands them inline
// wherever they appear: parseExperiment() alone would list 400 fields. The fields are documented once, from the
// schemas' own descriptions, in docs/CONFIG.md and docs/experiment.schema.json (`npm run docs`). So here:
// - a variable whose type is a zod schema is shown as its schema class (ZodObject, ZodDiscriminatedUnion, …), without
//   the type arguments;
// - a function, method or property that declares its type by name (`: ExperimentConfig`, `: Promise<ModelResult>`,
//   `method: MethodConfig`) is shown with that name rather than the expanded type;
// - a field of a zod object shown anyway takes its `.describe('…')` text as its comment when it has no doc comment.
// Everything else, the comments included, is TypeDoc's own output; nothing here hides an undocumented symbol.
import ts from 'typescript';
import { Comment, Converter, DeclarationReflection, ReferenceType, ReflectionKind, ReflectionType } from 'typedoc';

/**
 * The type literals (ReflectionTypes' declarations) anywhere inside a type, to unregister them with it.
 * @param {unknown} type a TypeDoc type, or any value found inside one
 * @param {DeclarationReflection[]} found where to add them
 * @returns {DeclarationReflection[]} `found`
 */
function typeLiterals(type, found = []) {
  if (type instanceof ReflectionType) {
    found.push(type.declaration);
  } else if (Array.isArray(type)) {
    for (const item of type) typeLiterals(item, found);
  } else if (type && typeof type === 'object' && typeof (/** @type {{ type?: unknown }} */ (type).type) === 'string') {
    for (const value of Object.values(type)) typeLiterals(value, found);
  }
  return found;
}

/**
 * Unregisters the type literals of a type that was replaced, so that no reflection of it is left to validate.
 * @param {import('typedoc').ProjectReflection} project
 * @param {unknown} type
 */
function removeLiterals(project, type) {
  for (const declaration of typeLiterals(type)) project.removeReflection(declaration);
}

/**
 * The string given to `.describe()` in a zod call chain such as `z.number().default(1).describe('…')`.
 * @param {ts.Expression} node
 * @returns {string | undefined}
 */
function describeText(node) {
  let expression = node;
  while (ts.isCallExpression(expression) && ts.isPropertyAccessExpression(expression.expression)) {
    const callee = expression.expression;
    const [argument] = expression.arguments;
    if (callee.name.text === 'describe' && argument && ts.isStringLiteralLike(argument)) return argument.text;
    expression = callee.expression;
  }
  return undefined;
}

/**
 * The plugin's entry point, called by TypeDoc.
 * @param {import('typedoc').Application} app
 */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_SIGNATURE, (context, signature, declaration) => {
    const node = declaration && 'type' in declaration ? declaration.type : undefined;
    if (!node || ts.isTypeLiteralNode(node) || !typeLiterals(signature.type).length) return;
    const old = signature.type;
    signature.type = context.converter.convertType(context.withScope(signature), node);
    removeLiterals(context.project, old);
  });

  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Property)) return;
    const node = context.getSymbolFromReflection(reflection)?.valueDeclaration;
    // A property whose type is written as a name (`method: MethodConfig`) keeps that name.
    const declared = node && (ts.isPropertySignature(node) || ts.isPropertyDeclaration(node) || ts.isParameter(node));
    const typeNode = declared ? node.type : undefined;
    if (typeNode && !ts.isTypeLiteralNode(typeNode) && typeLiterals(reflection.type).length) {
      const old = reflection.type;
      reflection.type = context.converter.convertType(context.withScope(reflection), typeNode);
      removeLiterals(context.project, old);
    }
    if (reflection.comment || !node || !ts.isPropertyAssignment(node)) return;
    const text = describeText(node.initializer);
    if (text) reflection.comment = new Comment([{ kind: 'text', text }]);
  });

  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const variable of context.project.getReflectionsByKind(ReflectionKind.Variable)) {
      if (!(variable instanceof DeclarationReflection)) continue;
      const type = variable.type;
      if (type instanceof ReferenceType && type.package === 'zod' && type.typeArguments?.length) {
        const old = type.typeArguments;
        type.typeArguments = undefined;
        removeLiterals(context.project, old);
      }
    }
  });
}
