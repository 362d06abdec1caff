import { AggregatorRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HttpMetrics } from '../../src/http/metrics.js';

/** The sample lines of one metric family, without HELP and TYPE. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('HttpMetrics', () => {
  it('counts requests and their durations by method, route and status, in cumulative buckets', async () => {
    const metrics = new HttpMetrics();
    for (const seconds of [0.0005, 0.004, 0.004, 0.3, 7]) metrics.observe('GET', '/things/:id', 200, seconds);
    metrics.observe('GET', '/things/:id', 404, 0.002);
    metrics.observe('POST', '/things', 201, 0.02);
    const text = await metrics.scrape();

    expect(samples(text, 'http_requests_total')).toEqual([
      'http_requests_total{method="GET",route="/things/:id",status_code="200"} 5',
      'http_requests_total{method="GET",route="/things/:id",status_code="404"} 1',
      'http_requests_total{method="POST",route="/things",status_code="201"} 1',
    ]);
    const ok = 'method="GET",route="/things/:id",status_code="200"';
    const buckets = samples(text, 'http_request_duration_seconds_bucket').filter((line) => line.includes(ok));
    expect(buckets.map((line) => line.replace(/,method.*\}/, '}'))).toEqual([
      'http_request_duration_seconds_bucket{le="0.001"} 1',
      'http_request_duration_seconds_bucket{le="0.0025"} 1',
      'http_request_duration_seconds_bucket{le="0.005"} 3',
      'http_request_duration_seconds_bucket{le="0.01"} 3',
      'http_request_duration_seconds_bucket{le="0.025"} 3',
      'http_request_duration_seconds_bucket{le="0.05"} 3',
      'http_request_duration_seconds_bucket{le="0.1"} 3',
      'http_request_duration_seconds_bucket{le="0.25"} 3',
      'http_request_duration_seconds_bucket{le="0.5"} 4',
      'http_request_duration_seconds_bucket{le="1"} 4',
      'http_request_duration_seconds_bucket{le="2.5"} 4',
      'http_request_duration_seconds_bucket{le="5"} 4',
      'http_request_duration_seconds_bucket{le="+Inf"} 5',
    ]);
    expect(samples(text, 'http_request_duration_seconds_count')).toContain(
      `http_request_duration_seconds_count{${ok}} 5`,
    );
    const sum = samples(text, 'http_request_duration_seconds_sum').find((line) => line.includes(ok));
    expect(Number(sum?.split(' ')[1])).toBeCloseTo(7.3085, 9);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');

    // A later scrape counts what came since, once.
    metrics.observe('GET', '/things/:id', 200, 0.001);
    const again = await metrics.scrape();
    expect(samples(again, 'http_requests_total')[0]).toBe(`http_requests_total{${ok}} 6`);
    expect(samples(again, 'http_request_duration_seconds_count')).toContain(
      `http_request_duration_seconds_count{${ok}} 6`,
    );
  });

  it('adds up across cluster workers as prom-client metrics do', async () => {
    const workers = [new HttpMetrics(), new HttpMetrics()];
    workers[0]?.observe('GET', '/things/:id', 200, 0.004);
    workers[1]?.observe('GET', '/things/:id', 200, 0.2);
    workers[1]?.observe('GET', '/things/:id', 200, 0.2);
    const all = await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON()));
    const text = await AggregatorRegistry.aggregate(all).metrics();
    const ok = 'method="GET",route="/things/:id",status_code="200"';
    expect(text).toContain(`http_requests_total{${ok}} 3`);
    expect(text).toContain(`http_request_duration_seconds_count{${ok}} 3`);
    expect(text).toContain(`http_request_duration_seconds_bucket{le="0.005",${ok}} 1`);
    expect(text).toContain(`http_request_duration_seconds_bucket{le="0.25",${ok}} 3`);
  });
});
