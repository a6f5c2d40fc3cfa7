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
// Short names in one order for every file, the letters most frequent in the whole minified tag
// first. Terser's own order is per file (the letters of that file), so the same idiom in two
// modules got different names; with one order a module's locals mostly get the names its
// neighbours use, which gzip shares across modules (make tag-size: "all" -13, default -3; the
// config keys' names take the same order). The order is counted on a build with terser's
// order, then once more on a build with that order.
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$';
const byFrequency = (code) => {
  const count = {};
  for (const c of code) count[c] = (count[c] || 0) + 1;
  return [...LETTERS].sort((a, b) => (count[b] || 0) - (count[a] || 0)).join('');
};
// Terser's base54 with a fixed alphabet: the first character a letter, later ones also digits.
const identifiers = (first) => {
  const rest = first + '0123456789';
  return {
    get: (n) => {
      let name = first[n % first.length];
      for (n = Math.floor(n / first.length); n > 0; n = Math.floor(n / rest.length)) {
        n--;
        name += rest[n % rest.length];
      }
      return name;
    },
  };
};

// Minifies every file in order from an empty cache: [[file, code]] and the cache. naming is
// {nth_identifier: identifiers(order)}, or nothing for terser's own order.
const build = async (naming = {}) => {
  const nameCache = {};
  const files = [];
  for (const file of names) {
    const core = file === 'core.js';
    const result = await minify(readFileSync(join(src, file), 'utf8'), {
      ecma: 2020,
      parse: {bare_returns: core},
      compress: {passes: 3, unsafe_arrows: true, toplevel: false},
      mangle: {toplevel: true, ...naming, properties: {regex: /^_[a-z]/, undeclared: true, ...naming}},
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
    files.push([file, code]);
  }
  return {files, nameCache};
};
const joined = ({files}) => files.map(([, code]) => code).join('');

let result = await build();
for (let round = 0; round < 2; round++) {
  result = await build({nth_identifier: identifiers(byFrequency(joined(result)))});
}
const {files, nameCache} = result;
mkdirSync(out, {recursive: true});
for (const [file, code] of files) writeFileSync(join(out, file), code + '\n');
// The short name of every "_" property, so the generator can write config keys the tag reads.
const props = Object.fromEntries(
  Object.entries(nameCache.props.props).map(([k, v]) => [k.slice(1), v]).sort());
writeFileSync(join(out, 'names.json'), JSON.stringify(props, null, 1) + '\n');
