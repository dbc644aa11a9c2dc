// Builds a JavaScript (or TypeScript) Actor directory into a wactor component:
// esbuild bundles the Actor's code with its npm dependencies and wactor-sdk,
// then componentize-js (SpiderMonkey) turns the bundle into a component of
// the batch world (`run`) or the Standby world (wasi:http/incoming-handler).
//
//   node build.mjs '{"actorDir": "...", "out": "...", "standby": false}'
//
// Errors go to stderr as `error: <file>:<line>:<column>: <message>` and the
// exit code is 1; nothing is written to `out` then.

import { builtinModules } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as acorn from 'acorn';
import * as esbuild from 'esbuild';
import { componentize } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const args = JSON.parse(process.argv[2]);
const actorDir = resolve(args.actorDir);

class BuildError extends Error {}

function fail(message) {
  throw new BuildError(message);
}

function rel(path) {
  return relative(actorDir, path) || path;
}

/** The Actor's main module: package.json's `main`, else the usual places. */
function entryPoint() {
  const pkgPath = join(actorDir, 'package.json');
  let pkg = {};
  try {
    pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  } catch (e) {
    fail(`package.json: ${e.message}`);
  }
  if (pkg.main) {
    const main = join(actorDir, pkg.main);
    if (!existsSync(main)) fail(`package.json: "main" names ${pkg.main}, which does not exist`);
    return { entry: main, pkg };
  }
  const candidates = ['src/main.js', 'src/main.ts', 'src/main.mjs', 'main.js', 'main.ts', 'main.mjs', 'src/index.js', 'src/index.ts', 'index.js', 'index.ts'];
  for (const c of candidates) {
    if (existsSync(join(actorDir, c))) return { entry: join(actorDir, c), pkg };
  }
  fail(`no entry point: package.json names no "main" and none of ${candidates.join(', ')} exists`);
}

/** npm dependencies are installed when the Actor has some and no node_modules yet. */
function installDependencies(pkg) {
  const deps = Object.keys(pkg.dependencies ?? {});
  if (deps.length === 0 || existsSync(join(actorDir, 'node_modules'))) return;
  process.stderr.write(`installing ${deps.length} npm dependenc${deps.length === 1 ? 'y' : 'ies'}\n`);
  try {
    execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: actorDir, stdio: ['ignore', 2, 2] });
  } catch {
    fail('npm install failed (see above)');
  }
}

function syntaxError(file, e) {
  const where = e.loc ? `:${e.loc.line}:${e.loc.column + 1}` : '';
  return `${rel(file)}${where}: ${e.message.replace(/ \(\d+:\d+\)$/, '')}`;
}

/**
 * A batch Actor's main module becomes the body of the `run` export: its
 * imports stay at the top level (hoisted anyway), everything else runs when
 * the run starts, and a throw fails the run. Line numbers are kept: each
 * import is blanked in place and the function's header shares line 1.
 */
function wrapMain(file, source) {
  let ast;
  try {
    ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true, locations: true });
  } catch (e) {
    fail(syntaxError(file, e));
  }
  const chars = source.split('');
  const blank = (start, end) => {
    for (let i = start; i < end; i++) if (chars[i] !== '\n') chars[i] = ' ';
  };
  const imports = [];
  for (const node of ast.body) {
    if (node.type === 'ImportDeclaration') {
      imports.push(source.slice(node.start, node.end));
      blank(node.start, node.end);
    } else if (node.type === 'ExportNamedDeclaration' && node.declaration) {
      blank(node.start, node.declaration.start);
    } else if (node.type.startsWith('Export')) {
      const line = node.loc.start.line;
      fail(`${rel(file)}:${line}:${node.loc.start.column + 1}: a batch Actor's main module is the run itself and exports nothing (a Standby Actor sets "usesStandbyMode" in .actor/actor.json)`);
    }
  }
  let body = chars.join('');
  if (body.startsWith('#!')) body = '//' + body.slice(2);
  return `export default async function __wactorMain() {${body}\n}\n${imports.join('\n')}\n`;
}

const NODE_BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));
const NATIVE_LOADERS = new Set(['bindings', 'node-gyp-build', 'node-addon-api', 'prebuild-install', 'node-pre-gyp', '@mapbox/node-pre-gyp']);

function packageOf(path) {
  const parts = path.split(/[\\/]node_modules[\\/]/);
  if (parts.length < 2) return rel(path);
  const tail = parts[parts.length - 1].split(/[\\/]/);
  return tail[0].startsWith('@') ? `${tail[0]}/${tail[1]}` : tail[0];
}

function installed(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules', name, 'package.json'))) return true;
    if (dirname(dir) === dir) return false;
  }
}

function wactorPlugin(entry, standby) {
  const sdk = join(here, 'sdk', 'index.js');
  return {
    name: 'wactor',
    setup(build) {
      build.onResolve({ filter: /^wactor-entry$/ }, () => ({ path: 'wactor-entry', namespace: 'wactor' }));
      build.onLoad({ filter: /.*/, namespace: 'wactor' }, () => ({
        resolveDir: actorDir,
        loader: 'js',
        contents: standby
          ? `import { __serve } from 'wactor-sdk';\nimport handler from ${JSON.stringify(entry)};\n` +
            `addEventListener('fetch', (event) => event.respondWith(__serve(handler, event.request)));\n`
          : `import { __run } from 'wactor-sdk';\nimport main from ${JSON.stringify(entry)};\n` +
            `export async function run() { await __run(main); }\n`,
      }));
      // The SDK comes with the toolchain; `apify` maps to it too, so a ported Actor keeps its import.
      build.onResolve({ filter: /^(wactor-sdk|apify)$/ }, () => ({ path: sdk }));
      build.onResolve({ filter: /^[^./]/ }, (a) => {
        const bare = a.path.replace(/^node:/, '');
        const name = bare.startsWith('@') ? bare.split('/').slice(0, 2).join('/') : bare.split('/')[0];
        // `events`, `buffer`, ... are npm packages too: a built-in name is an error only when none is installed.
        if (a.path.startsWith('node:') || (NODE_BUILTINS.has(name) && !installed(name, a.resolveDir))) {
          return { errors: [{ text: `${packageOf(a.importer)} imports the Node.js built-in "${a.path}", which a component Actor does not have (use fetch and the wactor-sdk storages instead)` }] };
        }
        if (NATIVE_LOADERS.has(name)) {
          return { errors: [{ text: `${packageOf(a.importer)} loads a native extension (through "${name}"), which cannot run in a component Actor` }] };
        }
        return undefined;
      });
      build.onLoad({ filter: /\.node$/ }, (a) => ({
        errors: [{ text: `${packageOf(a.path)} is a native extension (${rel(a.path)}), which cannot run in a component Actor` }],
      }));
      if (!standby) {
        build.onLoad({ filter: /.*/ }, async (a) => {
          if (resolve(a.path) !== resolve(entry)) return undefined;
          let source = readFileSync(a.path, 'utf8');
          if (/\.[mc]?ts$/.test(a.path)) {
            try {
              source = (await esbuild.transform(source, { loader: 'ts', format: 'esm', sourcefile: rel(a.path) })).code;
            } catch (e) {
              fail(formatEsbuild(e.errors ?? [], e.message));
            }
          }
          return { contents: wrapMain(a.path, source), loader: 'js', resolveDir: dirname(a.path) };
        });
      }
    },
  };
}

function formatEsbuild(errors, fallback) {
  if (!errors.length) return fallback;
  return errors
    .map((e) => {
      const l = e.location;
      const text = e.text.replace(/^Could not resolve "(.*)"$/, (m, p) => `cannot find the module "${p}" (is it in package.json's dependencies?)`);
      return l ? `${l.file}:${l.line}:${l.column + 1}: ${text}` : text;
    })
    .join('\nerror: ');
}

/** The WIT of the chosen world, with the WASI packages componentize-js's engine uses. */
function witDir(work, standby) {
  const builtin = join(here, 'node_modules', '@bytecodealliance', 'jco', 'lib', 'wit', 'builtin', '0.2.12');
  const dir = join(work, 'wit');
  mkdirSync(join(dir, 'deps'), { recursive: true });
  for (const p of ['io', 'clocks', 'http', 'cli', 'random', 'filesystem', 'sockets']) cpSync(join(builtin, `wasi-${p}`), join(dir, 'deps', p), { recursive: true });
  // The engine speaks wasi:http 0.2.10 (over wasi:io 0.2.12); the host takes any 0.2.x.
  const http = join(dir, 'deps', 'http', 'package.wit');
  writeFileSync(http, readFileSync(http, 'utf8').replace('package wasi:http@0.2.12;', 'package wasi:http@0.2.10;'));
  if (standby) {
    mkdirSync(join(dir, 'deps', 'actor'));
    cpSync(join(here, 'wit', 'actor.wit'), join(dir, 'deps', 'actor', 'actor.wit'));
    writeFileSync(
      join(dir, 'standby.wit'),
      'package wactor:js-standby@0.1.0;\n\nworld standby-actor {\n  include wactor:actor/actor-imports@0.1.0;\n  export wasi:http/incoming-handler@0.2.10;\n}\n',
    );
  } else {
    cpSync(join(here, 'wit', 'actor.wit'), join(dir, 'actor.wit'));
  }
  return { dir, world: standby ? 'standby-actor' : 'actor' };
}

async function main() {
  const started = Date.now();
  const { entry, pkg } = entryPoint();
  installDependencies(pkg);
  const work = mkdtempSync(join(tmpdir(), 'wactor-js-'));
  try {
    const bundle = join(work, 'bundle.js');
    let result;
    try {
      result = await esbuild.build({
        entryPoints: ['wactor-entry'],
        bundle: true,
        format: 'esm',
        platform: 'neutral',
        target: 'es2022',
        mainFields: ['module', 'main'],
        conditions: ['worker', 'browser', 'import', 'default'],
        external: ['wactor:*', 'wasi:*'],
        define: { 'process.env.NODE_ENV': '"production"' },
        absWorkingDir: actorDir,
        outfile: bundle,
        logLevel: 'silent',
        plugins: [wactorPlugin(entry, Boolean(args.standby))],
      });
    } catch (e) {
      if (e instanceof BuildError) throw e;
      const inner = (e.errors ?? []).find((x) => x.detail instanceof BuildError);
      if (inner) throw inner.detail;
      fail(formatEsbuild(e.errors ?? [], e.message));
    }
    for (const w of result.warnings) process.stderr.write(`warning: ${formatEsbuild([w], w.text)}\n`);
    const bundled = Date.now();
    const { dir, world } = witDir(work, Boolean(args.standby));
    let component;
    try {
      ({ component } = await componentize({
        sourcePath: bundle,
        witPath: dir,
        worldName: world,
        disableFeatures: args.standby ? [] : ['fetch-event'],
      }));
    } catch (e) {
      fail(`componentize-js: ${String(e.message || e).split('\n').slice(0, 6).join('\n')}`);
    }
    mkdirSync(dirname(resolve(args.out)), { recursive: true });
    writeFileSync(args.out, component);
    process.stdout.write(
      JSON.stringify({ bytes: component.length, bundleBytes: statSync(bundle).size, bundleMillis: bundled - started, totalMillis: Date.now() - started }) + '\n',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`error: ${e instanceof BuildError ? e.message : e.stack || e}\n`);
  process.exit(1);
});
