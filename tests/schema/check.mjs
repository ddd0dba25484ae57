// Validates the manifest corpus and the examples with ajv (JSON Schema
// draft 2020-12) and checks that its verdicts agree with the ones qstor's own
// validator is tested against (tests/manifests/expected.tsv):
//   valid    -> ajv accepts      schema   -> ajv rejects
//   semantic -> ajv accepts (only qstor's rules beyond the schema reject it)
// Also checks that every property in the schema carries a description, so
// editors (yaml-language-server) show help for every field.
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import YAML from "yaml";
import { fieldTable, currentGenerated } from "./manifest-doc.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const schema = JSON.parse(readFileSync(join(root, "schema", "storage.v1.schema.json"), "utf8"));
// strictRequired is off: the selector's oneOf and not branches name keys defined
// in the enclosing schema, as intended.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
const validate = ajv.compile(schema);

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${what}`);
  }
}

// Returns [true] or [false, reason] for one file, as ajv sees it.
function ajvVerdict(path) {
  const text = readFileSync(path, "utf8");
  let docs;
  try {
    docs = YAML.parseAllDocuments(text, { maxAliasCount: 100 });
  } catch (e) {
    return [false, `YAML: ${e.message}`];
  }
  if (!Array.isArray(docs)) docs = [docs];
  if (docs.length === 0) return [false, "no document"];
  for (const doc of docs) {
    if (doc.errors.length > 0) return [false, `YAML: ${doc.errors[0].message}`];
    let value;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      return [false, `YAML: ${e.message}`];
    }
    if (!validate(value)) {
      return [false, ajv.errorsText(validate.errors)];
    }
  }
  return [true];
}

// 1. Every property has a description.
function walk(node, where) {
  if (node === null || typeof node !== "object") return;
  if (node.properties) {
    for (const [k, v] of Object.entries(node.properties)) {
      check(typeof v.description === "string" && v.description.length > 10,
            `${where}/properties/${k} has a description`);
      walk(v, `${where}/properties/${k}`);
    }
  }
  for (const key of ["$defs"]) {
    if (node[key]) {
      for (const [k, v] of Object.entries(node[key])) {
        check(typeof v.description === "string", `${where}/${key}/${k} has a description`);
        walk(v, `${where}/${key}/${k}`);
      }
    }
  }
  for (const key of ["items", "additionalProperties", "propertyNames", "not"]) {
    if (node[key] && typeof node[key] === "object") walk(node[key], `${where}/${key}`);
  }
  for (const key of ["oneOf", "anyOf"]) {
    if (Array.isArray(node[key])) node[key].forEach((b, i) => walk(b, `${where}/${key}/${i}`));
  }
}
walk(schema, "#");

// 2. The corpus.
const corpus = join(root, "tests", "manifests");
const rows = readFileSync(join(corpus, "expected.tsv"), "utf8")
  .split("\n")
  .filter((l) => l && !l.startsWith("#"))
  .map((l) => l.split("\t"));
let counts = { valid: 0, schema: 0, semantic: 0 };
for (const [file, verdict] of rows) {
  const [ok, why] = ajvVerdict(join(corpus, file));
  counts[verdict]++;
  if (verdict === "schema") {
    check(!ok, `${file}: ajv should reject it (qstor does) but accepts it`);
  } else {
    check(ok, `${file}: ajv should accept it but says: ${why}`);
  }
}

// 3. The examples.
for (const f of readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"))) {
  const [ok, why] = ajvVerdict(join(root, "examples", f));
  check(ok, `examples/${f}: ${why}`);
}

// 4. docs/manifest.md's field reference is generated from this schema.
check(currentGenerated() === fieldTable(),
      "docs/manifest.md field reference is stale: run `node tests/schema/manifest-doc.mjs`");

// 5. The --json event stream's schema (schema/events.v1.schema.json): it
// compiles in strict mode, every field has a description, and ajv's verdicts
// on the sample events agree with qstor's own validator (apply_test's
// EventSchemaTest reads the same files; apply_test also validates the events
// the real binary prints).
const eventsSchema = JSON.parse(readFileSync(join(root, "schema", "events.v1.schema.json"), "utf8"));
const eventsAjv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
const validateEvent = eventsAjv.compile(eventsSchema);
walk(eventsSchema, "events#");
let events = { good: 0, bad: 0 };
for (const kind of ["good", "bad"]) {
  const lines = readFileSync(join(root, "tests", "events", `${kind}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
  for (const line of lines) {
    events[kind]++;
    const ok = validateEvent(JSON.parse(line));
    if (kind === "good") {
      check(ok, `tests/events/good.jsonl: ajv rejects ${line}: ${eventsAjv.errorsText(validateEvent.errors)}`);
    } else {
      check(!ok, `tests/events/bad.jsonl: ajv accepts ${line}`);
    }
  }
}
console.log(`events: ${events.good} good, ${events.bad} bad samples`);

console.log(`corpus: ${counts.valid} valid, ${counts.schema} schema-invalid, ${counts.semantic} semantic-only`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
