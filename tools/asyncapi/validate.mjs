// Validate AsyncAPI documents with the official parser (schema + spectral rules).
// Usage: node validate.mjs <document>... [--strict]
// Prints every diagnostic, then one JSON summary line per document; exits 1 when any
// document has an error (with --strict: or a warning).
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const files = args.filter((arg) => !arg.startsWith('--'));
if (files.length === 0) {
  console.error('usage: node validate.mjs <asyncapi.yaml>... [--strict]');
  process.exit(2);
}

const parser = new Parser();
let allValid = true;
for (const file of files) {
  const { document, diagnostics } = await fromFile(parser, file).parse();
  const count = (severity) => diagnostics.filter((d) => d.severity === severity).length;
  for (const d of diagnostics) {
    const where = `${d.path.join('.') || '(root)'} (line ${d.range.start.line + 1})`;
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
  allValid &&= summary.valid;
}
process.exit(allValid ? 0 : 1);
