// The baseline of `bench_check --vs-ajv`: ajv (JSON Schema draft 2020-12)
// validating every tenant file of a directory against the generated
// `schemas/tenant.schema.json`, as a CI job without the compiler would.
//
//   node compiler/examples/ajv_check.mjs <tenant.schema.json> <dir>
//
// Structural checks only (types, required keys, patterns, unknown keys): ajv
// knows nothing of the cross-tenant rules the compiler also runs. Prints
// `ajv: N files, M invalid` and exits 1 when a file is invalid or unreadable.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";

const [schemaPath, dir] = process.argv.slice(2);
if (!schemaPath || !dir) {
  console.error("usage: node ajv_check.mjs <tenant.schema.json> <dir>");
  process.exit(2);
}
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
let files = 0;
let invalid = 0;
for (const name of readdirSync(dir).sort()) {
  if (!name.endsWith(".json") || name.startsWith("platform.") || name.startsWith("accounts.")) continue;
  files++;
  let doc;
  try {
    doc = JSON.parse(readFileSync(join(dir, name), "utf8"));
  } catch (e) {
    invalid++;
    console.error(`${name}: ${e.message}`);
    continue;
  }
  if (!validate(doc)) {
    invalid++;
    for (const err of validate.errors) console.error(`${name}: ${err.instancePath || "/"} ${err.message}`);
  }
}
console.log(`ajv: ${files} files, ${invalid} invalid`);
process.exit(invalid === 0 ? 0 : 1);
