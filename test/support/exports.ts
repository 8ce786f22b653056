// The names a source module exports, read with the TypeScript parser (types included),
// for tests of the names src/ gives its parts.
import { readFileSync } from "node:fs";
import ts from "typescript";

/**
 * Every name `path` (relative to the repository) exports, values and types; with
 * `declaredOnly`, only those it declares itself (no `export { x } from` lists).
 */
export function exportedNames(path: string, { declaredOnly = false } = {}): Set<string> {
  const file = new URL(`../../${path}`, import.meta.url);
  const source = ts.createSourceFile(path, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      if (declaredOnly) continue;
      const clause = statement.exportClause;
      if (clause !== undefined && ts.isNamedExports(clause)) {
        for (const element of clause.elements) names.add(element.name.text);
      }
      continue;
    }
    const exported = ts.canHaveModifiers(statement)
      ? ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
      : false;
    if (!exported) continue;
    if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name)) names.add(d.name.text);
      }
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement)) &&
      statement.name !== undefined
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}
