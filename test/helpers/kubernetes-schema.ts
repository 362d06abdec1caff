/**
 * Validates Kubernetes manifests against the API schemas shipped in kubernetes-models, and
 * goes one step further than they do: those schemas allow unknown keys, so a misspelt
 * field (`livenessProbes`) would pass. The compiled validators read every property their
 * schema knows, so a manifest wrapped in proxies that record reads reveals, after
 * validation, each key no schema asked for.
 */

const SCHEMAS: Readonly<Record<string, string>> = {
  'apps/v1/Deployment': 'IoK8sApiAppsV1Deployment',
  'v1/Service': 'IoK8sApiCoreV1Service',
  'v1/Secret': 'IoK8sApiCoreV1Secret',
  'autoscaling/v2/HorizontalPodAutoscaler': 'IoK8sApiAutoscalingV2HorizontalPodAutoscaler',
  'policy/v1/PodDisruptionBudget': 'IoK8sApiPolicyV1PodDisruptionBudget',
  'batch/v1/Job': 'IoK8sApiBatchV1Job',
};

type ValidateFunction = ((data: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string; keyword: string; params: unknown }[] | null;
};

interface Tracked {
  readonly target: Record<string, unknown> | unknown[];
  readonly read: Set<string>;
}

const tracked = new WeakMap<object, Tracked>();

function track(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const read = new Set<string>();
  const target = Array.isArray(value)
    ? value.map(track)
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v)]));
  const proxy = new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(t, key, receiver) as unknown;
    },
    has(t, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(t, key);
    },
    // Maps with free-form keys (labels, annotations, stringData) are iterated, not read by name.
    ownKeys(t) {
      for (const key of Reflect.ownKeys(t)) if (typeof key === 'string') read.add(key);
      return Reflect.ownKeys(t);
    },
  });
  tracked.set(proxy, { target, read });
  return proxy;
}

function unknownKeys(value: unknown, path: string): string[] {
  const info = typeof value === 'object' && value !== null ? tracked.get(value) : undefined;
  if (info === undefined) return [];
  return Object.entries(info.target).flatMap(([key, child]) => [
    ...(!Array.isArray(info.target) && !info.read.has(key) ? [`${path}/${key}`] : []),
    ...unknownKeys(child, `${path}/${key}`),
  ]);
}

/** Every problem with one manifest document: schema violations and unknown fields. */
export async function manifestProblems(document: Record<string, unknown>): Promise<string[]> {
  const key = `${String(document.apiVersion)}/${String(document.kind)}`;
  const schema = SCHEMAS[key];
  if (schema === undefined) return [`no schema known for ${key}`];
  const { validate } = (await import(`kubernetes-models/_schemas/${schema}`)) as { validate: ValidateFunction };
  const proxy = track(document);
  const valid = validate(proxy);
  const errors = valid
    ? []
    : (validate.errors ?? []).map(
        (e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
      );
  return [...errors, ...unknownKeys(proxy, '').map((p) => `${p} is not a field of ${key}`)];
}
