import { readFileSync } from 'node:fs';
import { DockerfileParser, Env } from 'dockerfile-ast';

export interface RuntimeImage {
  /** The runtime (last) stage's instructions: what the running image is made of. */
  readonly instructions: readonly { readonly keyword: string; readonly args: string }[];
  /** Its command line (exec form). */
  readonly command: readonly string[];
  /** Its ENV, as the container starts with it. */
  readonly env: Readonly<Record<string, string>>;
}

/** The production image as the Dockerfile defines it; the tests and the benchmark read it here. */
export function runtimeImage(path = 'Dockerfile'): RuntimeImage {
  const dockerfile = DockerfileParser.parse(readFileSync(path, 'utf8'));
  const all = dockerfile.getInstructions();
  const last = all.map((i) => i.getKeyword()).lastIndexOf('FROM');
  const runtime = all.slice(last);
  const env: Record<string, string> = {};
  for (const instruction of runtime) {
    if (!(instruction instanceof Env)) continue;
    for (const property of instruction.getProperties()) env[property.getName()] = property.getValue() ?? '';
  }
  const instructions = runtime.map((i) => ({ keyword: i.getKeyword(), args: i.getArgumentsContent() ?? '' }));
  const command = JSON.parse(instructions.find((i) => i.keyword === 'CMD')?.args ?? '[]') as string[];
  return { instructions, command, env };
}

/** A size flag such as `--max-old-space-size=256` from a NODE_OPTIONS value, in MiB (NaN when absent). */
export function sizeFlag(nodeOptions: string | undefined, name: string): number {
  return Number(new RegExp(`--${name}=(\\d+)`).exec(nodeOptions ?? '')?.[1] ?? NaN);
}
