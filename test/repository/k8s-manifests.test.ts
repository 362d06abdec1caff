/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return,
   @typescript-eslint/no-unsafe-argument -- manifests are arbitrary YAML documents, inspected by path */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runtimeImage, sizeFlag } from '../helpers/dockerfile.js';
import { manifestProblems } from '../helpers/kubernetes-schema.js';

const DIR = 'deploy/k8s';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are arbitrary YAML, inspected by path
type Doc = Record<string, any>;

function load(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS() as Doc);
}

const manifests = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((file) => load(file).map((doc) => ({ file, doc })));

const find = (kind: string) => manifests.find((m) => m.doc.kind === kind)?.doc ?? {};
const envOf = (container: Doc) =>
  Object.fromEntries((container.env as Doc[]).map((e) => [e.name as string, e.value as string]));

describe('Kubernetes manifests', () => {
  it.each(manifests.map((m) => [`${m.file} ${String(m.doc.kind)}`, m.doc]))(
    '%s is valid against the Kubernetes API schema, with no unknown field',
    async (_name, doc) => {
      expect(await manifestProblems(doc)).toEqual([]);
    },
  );

  it('cover a Deployment, Service, HPA, PDB, migration Job and an example Secret', () => {
    expect(manifests.map((m) => m.doc.kind).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'Job',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
    const kustomization = load('kustomization.yaml')[0] as { resources: string[] };
    for (const resource of kustomization.resources) expect(readdirSync(DIR)).toContain(resource);
  });

  it('catch a typo and a wrong type (the checker itself can fail)', async () => {
    const deployment = structuredClone(find('Deployment'));
    deployment.spec.template.spec.containers[0].livenessProbes =
      deployment.spec.template.spec.containers[0].livenessProbe;
    deployment.spec.replicas = 'two';
    const problems = await manifestProblems(deployment);
    expect(problems.join('\n')).toContain('/spec/replicas type {"type":"integer"}');
    expect(problems.join('\n')).toMatch(/containers\/0\/livenessProbes is not a field/);
  });

  it('probe, drain and run the app as the service expects', () => {
    const pod = find('Deployment').spec.template.spec;
    const app = pod.containers[0];
    const env = envOf(app);
    expect(app.livenessProbe.httpGet.path).toBe('/healthz');
    // Readiness through grpc.health.v1 on the gRPC port, which follows /readyz.
    const ports = app.ports as { name: string; containerPort: number }[];
    expect(app.readinessProbe.grpc.port).toBe(ports.find((port) => port.name === 'grpc')?.containerPort);
    expect(app.startupProbe.httpGet.path).toBe('/healthz');
    expect(env.MIGRATE_ON_START).toBe('false');
    expect(Number(env.SHUTDOWN_DELAY_MS)).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      Number(env.SHUTDOWN_DELAY_MS) + Number(env.SHUTDOWN_TIMEOUT_MS),
    );
    expect(app.envFrom[0].secretRef.name).toBe(find('Secret').metadata.name);
    expect(app.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(app.resources.limits.memory).toBeDefined();
  });

  it('run with the image’s V8 heap caps, young generation included, below the memory limit', () => {
    const app = find('Deployment').spec.template.spec.containers[0];
    const mebibytes = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)?.[1] ?? NaN);
    // The caps live in the image (Dockerfile ENV NODE_OPTIONS); a NODE_OPTIONS here would replace them.
    expect(envOf(app).NODE_OPTIONS).toBeUndefined();
    const imageOptions = runtimeImage().env.NODE_OPTIONS;
    const oldSpace = sizeFlag(imageOptions, 'max-old-space-size');
    const semiSpace = sizeFlag(imageOptions, 'max-semi-space-size');
    // Node 24 defaults to 64 MiB semi-spaces, which starve a small old space: both are set.
    expect(semiSpace).toBeLessThanOrEqual(oldSpace / 8);
    // Code, OpenTelemetry and native memory besides the heap, as measured on Node 24
    // (docs/performance.md, "Memory"), and 64 MiB more as a margin.
    expect(oldSpace + 2 * semiSpace + 104 + 64).toBeLessThanOrEqual(mebibytes(app.resources.limits.memory));
    // The request covers the idle RSS once measured on Node 24 (docs/performance.md), an upper bound now.
    expect(mebibytes(app.resources.requests.memory)).toBeGreaterThanOrEqual(227);
  });

  it('run every container unprivileged with a read-only root filesystem', () => {
    for (const kind of ['Deployment', 'Job']) {
      const pod = find(kind).spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, kind).toBe(true);
      for (const container of pod.containers as Doc[]) {
        expect(container.securityContext, kind).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });

  it('point the HPA, PDB and Service at the Deployment’s pods', () => {
    const deployment = find('Deployment');
    const labels = deployment.spec.template.metadata.labels;
    expect(find('HorizontalPodAutoscaler').spec.scaleTargetRef).toMatchObject({
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(find('PodDisruptionBudget').spec.selector.matchLabels).toEqual(labels);
    expect(find('Service').spec.selector).toEqual(labels);
    expect(find('Job').spec.template.spec.containers[0].command).toEqual(['node', 'dist/cli/migrate.js', 'up']);
  });
});
