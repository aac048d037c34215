import { defineConfig } from '@hey-api/openapi-ts';
import path from 'node:path';

// OPENAPI_FILE: path to the server's openapi.json (a dump of app.openapi()).
// Relative paths are taken from where npm was invoked (INIT_CWD), so both
// `OPENAPI_FILE=frontend/openapi.json npm --prefix frontend run gen:api` from the repo root
// and `npm run gen:api` inside frontend/ work.
const here = path.dirname(new URL(import.meta.url).pathname);
const given = process.env.OPENAPI_FILE;
const input = given
  ? path.resolve(process.env.INIT_CWD ?? process.cwd(), given)
  : path.join(here, 'openapi.json');

export default defineConfig({
  input,
  output: { path: path.join(here, 'src/api/generated'), postProcess: [] },
  // Types only (REST bodies and the hub's HubMessage union): the app calls the API through
  // the thin typed layer in src/api/endpoints.ts, so no client code is generated.
  plugins: ['@hey-api/typescript'],
});
