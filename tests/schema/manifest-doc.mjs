// Generates the field reference of docs/manifest.md from the schema.
//   node manifest-doc.mjs          rewrite the generated part of docs/manifest.md
//   import { fieldTable } ...      used by check.mjs to fail when the doc is stale
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const docPath = join(root, "docs", "manifest.md");
export const BEGIN = "<!-- BEGIN GENERATED FIELD REFERENCE (tests/schema/manifest-doc.mjs) -->";
export const END = "<!-- END GENERATED FIELD REFERENCE -->";

function resolve(schema, node) {
  if (node && node.$ref) {
    const parts = node.$ref.replace(/^#\//, "").split("/");
    let t = schema;
    for (const p of parts) t = t[p];
    return { ...resolve(schema, t), ...Object.fromEntries(Object.entries(node).filter(([k]) => k !== "$ref")) };
  }
  return node;
}

function typeOf(schema, n) {
  n = resolve(schema, n);
  if (n.const !== undefined) return `\`${JSON.stringify(n.const)}\``;
  if (n.enum) return n.enum.map((e) => `\`${e}\``).join(" \\| ");
  if (n.oneOf && n.oneOf.some((b) => b.const !== undefined)) {
    return n.oneOf.map((b) => (b.const !== undefined ? `\`${b.const}\`` : b.type || "object")).join(" \\| ");
  }
  let t = n.type || "any";
  if (t === "array" && n.items) t = `list of ${typeOf(schema, n.items)}`;
  if (n.pattern && n.type === "string" && !n.$ref) t += "";
  return t;
}

function limits(n) {
  const out = [];
  if (n.minimum !== undefined) out.push(`>= ${n.minimum}`);
  if (n.exclusiveMinimum !== undefined) out.push(`> ${n.exclusiveMinimum}`);
  if (n.maximum !== undefined) out.push(`<= ${n.maximum}`);
  if (n.maxItems !== undefined) out.push(`at most ${n.maxItems} entries`);
  if (n.maxLength !== undefined) out.push(`at most ${n.maxLength} chars`);
  return out.join(", ");
}

export function fieldTable() {
  const schema = JSON.parse(readFileSync(join(root, "schema", "storage.v1.schema.json"), "utf8"));
  const rows = [];
  function walk(node, path, required) {
    node = resolve(schema, node);
    if (!node.properties) return;
    for (const [k, v0] of Object.entries(node.properties)) {
      const v = resolve(schema, v0);
      const p = path ? `${path}.${k}` : k;
      const req = (node.required || []).includes(k) ? "yes" : "";
      const def = v.default !== undefined ? `\`${JSON.stringify(v.default)}\`` : "";
      const desc = (v0.description || v.description || "").replace(/\|/g, "\\|");
      rows.push(`| \`${p}\` | ${typeOf(schema, v)} | ${req} | ${def} | ${limits(v)} | ${desc} |`);
      walk(v, p);
      if (v.oneOf) for (const b of v.oneOf) if (b.properties) walk(b, p);
      if (v.type === "array" && v.items) walk(v.items, `${p}[]`);
    }
  }
  walk(schema, "");
  return [
    BEGIN,
    "",
    "| field | type | required | default | limits | meaning |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    END,
  ].join("\n");
}

export function currentGenerated() {
  const doc = readFileSync(docPath, "utf8");
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < 0) return null;
  return doc.slice(a, b + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const doc = readFileSync(docPath, "utf8");
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < 0) throw new Error(`${docPath} has no generated-section markers`);
  writeFileSync(docPath, doc.slice(0, a) + fieldTable() + doc.slice(b + END.length));
  console.log(`updated ${docPath}`);
}
