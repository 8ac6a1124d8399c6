// Validate an AsyncAPI document with the official parser (schema + spectral rules).
// Usage: node validate.mjs <document> [--strict]
// Prints every diagnostic, then one JSON summary line; exits 1 on any error
// (and on any warning with --strict).
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const file = args.find((arg) => !arg.startsWith('--'));
if (!file) {
  console.error('usage: node validate.mjs <asyncapi.yaml> [--strict]');
  process.exit(2);
}

const { document, diagnostics } = await fromFile(new Parser(), file).parse();
const count = (severity) => diagnostics.filter((d) => d.severity === severity).length;
for (const d of diagnostics) {
  const where = d.path.join('.') || '(root)';
  console.log(`${DiagnosticSeverity[d.severity].toLowerCase()} ${d.code} at ${where}: ${d.message}`);
}
const errors = count(DiagnosticSeverity.Error);
const warnings = count(DiagnosticSeverity.Warning);
const summary = {
  file,
  valid: document !== undefined && errors === 0 && (!strict || warnings === 0),
  errors,
  warnings,
  version: document?.version(),
  messages: document ? document.allMessages().all().map((m) => m.id()).sort() : [],
};
console.log(JSON.stringify(summary));
process.exit(summary.valid ? 0 : 1);
