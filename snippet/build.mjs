// Build-time only (make tag): minifies every snippet/src/*.js into snippet/dist/ with terser.
// Usage: node snippet/build.mjs [OUT_DIR]   (default snippet/dist)
//
// The core keeps its two placeholders; each feature module is written out as a bare function
// expression, which snippet/bundle.py puts into the core's module list. Properties starting with
// "_" (the hub the core shares with the modules) are mangled with one name cache across all
// files, so every module agrees with the core on the short names. Files are minified in a fixed
// order from an empty cache, so the output depends only on the sources and the locked terser.
import {readFileSync, readdirSync, writeFileSync, mkdirSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {minify} from 'terser';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = process.argv[2] || join(here, 'dist');
const WRAPPER = '__MICROCV_MODULE__(';
const names = readdirSync(src).filter((f) => f.endsWith('.js')).sort(
  (a, b) => (b === 'core.js') - (a === 'core.js') || (a < b ? -1 : 1));
const nameCache = {};

mkdirSync(out, {recursive: true});
for (const file of names) {
  const result = await minify(readFileSync(join(src, file), 'utf8'), {
    ecma: 2020,
    compress: {passes: 3, unsafe_arrows: true},
    mangle: {properties: {regex: /^_[a-z]/}},
    nameCache,
    format: {ascii_only: true, comments: false, semicolons: true},
  });
  let code = result.code;
  if (file !== 'core.js') {
    if (!code.startsWith(WRAPPER) || !code.endsWith(');')) {
      throw new Error(`${file}: a module must be one ${WRAPPER}function (...) {...}); statement`);
    }
    code = code.slice(WRAPPER.length, -2);
  }
  if (/<\/script|<!--|<script|\{\{/i.test(code)) {
    throw new Error(`${file}: output contains '</script', '<script', '<!--' or '{{'`);
  }
  writeFileSync(join(out, file), code + '\n');
}
// The short name of every "_" property, so the generator can write config keys the tag reads.
const props = Object.fromEntries(
  Object.entries(nameCache.props.props).map(([k, v]) => [k.slice(1), v]).sort());
writeFileSync(join(out, 'names.json'), JSON.stringify(props, null, 1) + '\n');
