// Build-time only (make tag): minifies every snippet/src/*.js into snippet/dist/ with terser.
// Usage: node snippet/build.mjs [OUT_DIR]   (default snippet/dist)
//
// The core is top-level code: its names are mangled (mangle.toplevel) and kept in one name
// cache, and it is wrapped in a function afterwards. Each feature module is an arrow function
// that uses the core's names as its free variables; minified with the same cache, it gets the
// same short names, and is written out as a bare function expression that snippet/bundle.py
// puts into the core's module list. Properties starting with "_" (the config keys) are mangled
// the same way. The compressor never treats the core's top-level names as its own
// (compress.toplevel off): a module may read or reassign them. Files are minified in a fixed
// order from an empty cache, so the output depends only on the sources and the locked terser.
import {readFileSync, readdirSync, writeFileSync, mkdirSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {minify} from 'terser';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = process.argv[2] || join(here, 'dist');
const WRAPPER = '__MICROCV_MODULE__(';
// What a module may use besides the core's names; anything else is a typo the browser would
// only report as a ReferenceError (swallowed by guard) at run time.
const BROWSER = new Set([
  'Blob', 'Date', 'Map', 'window', 'document', 'location', 'navigator', 'innerHeight', 'IntersectionObserver', 'JSON', 'Math', 'MutationObserver', 'Object',
  'RegExp', 'URL', 'Uint32Array', 'arguments', 'clearTimeout', 'crypto', 'decodeURIComponent',
  'fetch', 'history', 'isFinite', 'localStorage', 'setTimeout', '__MICROCV_CONFIG__',
  '__MICROCV_MODULES__', WRAPPER.slice(0, -1),
]);
const names = readdirSync(src).filter((f) => f.endsWith('.js')).sort(
  (a, b) => (b === 'core.js') - (a === 'core.js') || (a < b ? -1 : 1));
const nameCache = {};

mkdirSync(out, {recursive: true});
for (const file of names) {
  const core = file === 'core.js';
  const result = await minify(readFileSync(join(src, file), 'utf8'), {
    ecma: 2020,
    parse: {bare_returns: core},
    compress: {passes: 3, unsafe_arrows: true, toplevel: false},
    mangle: {toplevel: true, properties: {regex: /^_[a-z]/, undeclared: true}},
    nameCache,
    format: {ascii_only: true, comments: false, semicolons: true, ast: true},
  });
  let code = result.code;
  if (core) {
    code = `(()=>{${code}})();`;
  } else {
    const known = nameCache.vars.props;
    const unknown = [...result.ast.globals.keys()].filter((n) => !BROWSER.has(n) && !known['$' + n]);
    if (unknown.length) throw new Error(`${file}: uses names the core does not define: ${unknown}`);
    if (!code.startsWith(WRAPPER) || !code.endsWith(');')) {
      throw new Error(`${file}: a module must be one ${WRAPPER}() => {...}); statement`);
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
