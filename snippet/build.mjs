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
import {readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync} from 'node:fs';
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

// Code that only some sites need is written under one of these constants, which a source
// tests as a boolean (`if (RULES) ...`, `RULES ? a : b`). The build makes a file for every
// combination of the constants a source uses, the code of those that are off removed by the
// compressor: clicks.js (RULES false), clicks.rules.js (RULES true). snippet/bundle.py picks
// the files by the site's options (snippet/generator.py, CODE_FLAGS), so a site that leaves an
// option at its default ships no code for it.
const FLAGS = ['HASH', 'NOMAX', 'ROOT', 'RULES', 'WEBDRIVER'];

// [[file name, {FLAG: boolean}]] of a source, the one with every flag off first.
const variants = async (name, source) => {
  const {ast} = await minify(source, {
    parse: {bare_returns: true}, compress: false, mangle: false, format: {ast: true}});
  ast.figure_out_scope();
  const used = FLAGS.filter((flag) => ast.globals.has(flag));
  return Array.from({length: 2 ** used.length}, (_, bits) => {
    const on = used.filter((_, i) => bits & (1 << i));
    const suffix = on.map((flag) => '.' + flag.toLowerCase()).join('');
    return [name.replace(/\.js$/, suffix + '.js'), Object.fromEntries(FLAGS.map((f) => [f, on.includes(f)]))];
  });
};

// One file of the core or a module, minified with the flags in defs and the shared cache.
const minifyFile = async (file, source, defs, nameCache, naming) => {
  const core = file.startsWith('core.');
  const result = await minify(source, {
    ecma: 2020,
    parse: {bare_returns: core},
    compress: {passes: 3, unsafe_arrows: true, toplevel: false, global_defs: defs},
    mangle: {toplevel: true, ...naming, properties: {regex: /^_[a-z]/, undeclared: true, ...naming}},
    nameCache,
    format: {ascii_only: true, comments: false, semicolons: true, ast: true},
  });
  let code = result.code;
  if (core) {
    // Modules are filled in after minifying: placed inside a function, they would see that
    // function's locals, which the mangler may have given a core name a module uses.
    const modules = result.ast.globals.get('__MICROCV_MODULES__')?.references || [];
    if (modules.length !== 1 || modules[0].scope !== result.ast) {
      throw new Error(`${file}: __MICROCV_MODULES__ must appear once, in top-level code`);
    }
    // The last statement needs no ";" before the wrapper's closing brace.
    code = `(()=>{${code.replace(/;$/, '')}})();`;
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
  return code;
};

// Minifies every file in order from an empty cache: [[file, code, base]] (base: built with
// every flag off) and the cache. naming is {nth_identifier: identifiers(order)}, or nothing
// for terser's own order.
const build = async (naming = {}) => {
  const nameCache = {};
  const files = [];
  for (const name of names) {
    const source = readFileSync(join(src, name), 'utf8');
    for (const [file, defs] of await variants(name, source)) {
      const code = await minifyFile(file, source, defs, nameCache, naming);
      files.push([file, code, !Object.values(defs).some((on) => on)]);
    }
  }
  return {files, nameCache};
};
// What the tag-size variants are made of: the files built with every flag off.
const joined = ({files}) => files.filter(([, , base]) => base).map(([, code]) => code).join('');

let result = await build();
for (let round = 0; round < 2; round++) {
  result = await build({nth_identifier: identifiers(byFrequency(joined(result)))});
}
const {files, nameCache} = result;
mkdirSync(out, {recursive: true});
// A file of a flag no source uses any more must not linger.
for (const file of readdirSync(out)) if (file.endsWith('.js')) rmSync(join(out, file));
for (const [file, code] of files) writeFileSync(join(out, file), code + '\n');
// The short name of every "_" property, so the generator can write config keys the tag reads.
const props = Object.fromEntries(
  Object.entries(nameCache.props.props).map(([k, v]) => [k.slice(1), v]).sort());
writeFileSync(join(out, 'names.json'), JSON.stringify(props, null, 1) + '\n');
