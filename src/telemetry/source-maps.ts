/**
 * Second preload, after preload.ts: `node --import ./dist/telemetry/preload.js --import
 * ./dist/telemetry/source-maps.js dist/main.js`. Source maps apply to the modules loaded from
 * here on, so stack traces in the logs name this service's src/*.ts lines.
 *
 * Not `--enable-source-maps`: that also keeps the map of every module loaded before, and the
 * OpenTelemetry packages ship one per file, which costs memory for frames nobody reads.
 *
 * `process.setSourceMapsEnabled` rather than `module.setSourceMapsSupport`: the latter is
 * not in Node 20.
 */
process.setSourceMapsEnabled(true);
