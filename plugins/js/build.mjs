// Builds a Sluice plugin from JavaScript: node build.mjs SOURCE.js WIT_DIR OUT.wasm
// (componentize-js, the sluice:policy/policy world; WASI features the policy does not need are left out).
import { componentize } from '@bytecodealliance/componentize-js';
import { readFile, writeFile } from 'node:fs/promises';
const [src, witPath, out] = process.argv.slice(2);
const { component } = await componentize(await readFile(src, 'utf8'), {
  witPath, worldName: 'policy', disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`built ${out} (${component.length} bytes)`);
