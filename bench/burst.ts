/**
 * Burst bench: a workshop morning in one container. 1,000 labs provisioned at once plus 200
 * callers repeating a provision still under way, with 5 ms of LiteLLM latency per request and
 * LITELLM_MAX_CONNECTIONS=10. Prints wall time, latency percentiles, LiteLLM, Secrets Manager, KMS
 * and DynamoDB calls per provision, the peak of requests in flight and peak RSS, beside what the
 * role's lookup would cost for the same labs. Prints figures and goals; asserts nothing.
 */
import '../scripts/check-node.mjs';
import { performance } from 'node:perf_hooks';
import { burstRequests } from '../test/support/fixtures/burst.ts';
import { lambdaContext, postKeysEvent } from '../test/support/fixtures/events.ts';
import { invokeHttp } from '../test/support/fixtures/http.ts';
import { importRouteHandlers, startHarness } from '../test/support/harness.ts';
import { dynamoDetail, kmsDetail, resetUsage, usage } from './aws-usage.ts';
import { printSummary } from './goals.ts';

const LABS = Number(process.env.BENCH_LABS ?? 1000);
const REPEATS = Math.floor(LABS / 5);
const LATENCY_MS = 5;
const CAP = 10;

// One client for all 1,200 invocations (in AWS, one per container): deadlines cover the queue.
const INVOCATION_MS = 300_000;
// The master key is cached for SECRETS_CACHE_MS as deployed (the test harness's 60 s would lapse mid-burst).
const SECRETS_CACHE_MS = 300_000;
const h = await startHarness({
  LITELLM_MAX_CONNECTIONS: String(CAP),
  LITELLM_TIMEOUT_MS: String(INVOCATION_MS),
  SECRETS_CACHE_MS: String(SECRETS_CACHE_MS),
});
const { provision } = await importRouteHandlers();
// Warm the container (master-key fetch, connections), as the burst's first invocations would not be.
await invokeHttp(provision, postKeysEvent({ guid: 'bench-warm' }), lambdaContext());
resetUsage(h);
h.litellm.faults.set({ latencyMs: LATENCY_MS });

const requests = burstRequests(LABS, 'bench-burst-');

const started = performance.now();
const latencies: number[] = [];
const statuses = await Promise.all(
  requests.map(async (body) => {
    const t = performance.now();
    const answer = await invokeHttp(provision, postKeysEvent(body), lambdaContext(INVOCATION_MS));
    latencies.push(performance.now() - t);
    return answer.status;
  }),
);
const wallMs = performance.now() - started;
const errors = statuses.filter((s) => s !== 200 && s !== 201).length;
const keys = (await h.litellm.table.count()) - 1;
const used = usage(h);
const litellmCalls = used.litellm;
const secretsCalls = used.secretsManager;
const dynamoPerProvision = used.dynamodb / requests.length;
// Each call reads the lab once before anything else; a caller waiting for the lease reads it again now and then.
const waitReads = (used.dynamodbByOperation.GetItem ?? 0) - requests.length;
const dynamoRate = used.dynamodb / (wallMs / 1000);
const peak = h.litellm.peakInFlight;
await h.close();

latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
// The role finds a lab's key by paging /key/list (100 a page) and asking /key/info of every key:
// the k-th lab provisioned pays for the k - 1 keys made before it.
let roleLookupCalls = 0;
for (let k = 0; k < LABS; k++) roleLookupCalls += Math.max(1, Math.ceil(k / 100)) + k;
const rssMb = process.resourceUsage().maxRSS / 1024;

console.log(`# burst bench (Node ${process.version}, ${new Date().toISOString()})

${LABS.toLocaleString('en')} labs provisioned at once (the five packages in turn) plus ${REPEATS} repeated calls for
labs still being provisioned, all in one process (one container), LiteLLM stand-in latency
${LATENCY_MS} ms per request, LITELLM_MAX_CONNECTIONS=${CAP}, warm container (master key cached for ${SECRETS_CACHE_MS / 1000} s, as deployed).

| figure | value |
| --- | --- |
| provisions | ${requests.length.toLocaleString('en')} (${errors} errors) |
| keys in LiteLLM afterwards | ${keys.toLocaleString('en')} |
| wall time | ${(wallMs / 1000).toFixed(1)} s (${(requests.length / (wallMs / 1000)).toFixed(0)} provisions/s) |
| latency per provision p50 / p95 / max | ${at(0.5).toFixed(0)} / ${at(0.95).toFixed(0)} / ${at(1).toFixed(0)} ms |
| LiteLLM calls | ${litellmCalls.toLocaleString('en')} (${(litellmCalls / requests.length).toFixed(2)} per provision) |
| Secrets Manager calls | ${secretsCalls.toLocaleString('en')} (${(secretsCalls / requests.length).toFixed(2)} per provision) |
| KMS calls | ${kmsDetail(used)} (${((used.kmsEncrypt + used.kmsDecrypt) / requests.length).toFixed(2)} per provision) |
| DynamoDB requests | ${dynamoDetail(used)} (${dynamoPerProvision.toFixed(2)} per provision; ${waitReads.toLocaleString('en')} of them reads by callers waiting for a lab's lease), ${dynamoRate.toFixed(0)} a second |
| peak LiteLLM requests in flight | ${peak} (cap ${CAP}) |
| peak RSS (service and stand-ins together) | ${rssMb.toFixed(0)} MB |

The role's lookup for the same ${LABS.toLocaleString('en')} labs, one after another: ${roleLookupCalls.toLocaleString('en')} LiteLLM calls
before its first /key/generate (computed from its method: /key/list pages plus one /key/info per
existing key), against ${litellmCalls.toLocaleString('en')} calls in all here. Here the latency is queueing for the
${CAP} connections: every provision waits its turn behind the others.`);

printSummary({
  bench: 'burst',
  latency: `${LATENCY_MS} ms`,
  goals: [
    { goal: '0 errors', measured: `${errors} errors`, met: errors === 0 },
    {
      goal: `exactly ${LABS.toLocaleString('en')} keys`,
      measured: `${keys.toLocaleString('en')} keys`,
      met: keys === LABS,
    },
    { goal: `peak in flight <= ${CAP}`, measured: String(peak), met: peak <= CAP },
    {
      goal: '<= 3 LiteLLM calls per provision',
      measured: (litellmCalls / requests.length).toFixed(2),
      met: litellmCalls / requests.length <= 3,
    },
    {
      goal: '0 Secrets Manager calls (master key cached)',
      measured: `${secretsCalls} calls`,
      met: secretsCalls === 0,
    },
    {
      goal: '<= 6 DynamoDB requests per provision (every request of the burst / provision calls)',
      measured: `${dynamoPerProvision.toFixed(2)} (${used.dynamodb.toLocaleString('en')} / ${requests.length.toLocaleString('en')})`,
      met: dynamoPerProvision <= 6,
      reason:
        `${waitReads.toLocaleString('en')} of the requests are reads by the ${REPEATS} callers repeating a provision still under way, ` +
        `${(waitReads / REPEATS).toFixed(1)} each while they waited for its lease (the pause between two reads grows to 2 to 6 s); ` +
        `the wait is as long as the burst, which the DynamoDB emulator sets here (${dynamoRate.toFixed(0)} requests a second, one thread); ` +
        `without those reads, ${((used.dynamodb - waitReads) / requests.length).toFixed(2)} per provision`,
    },
  ],
  comparisons: [
    {
      what: `LiteLLM calls to provision ${LABS.toLocaleString('en')} labs`,
      ours: `${litellmCalls.toLocaleString('en')} (with ${REPEATS} repeated calls)`,
      role: `${roleLookupCalls.toLocaleString('en')} for its lookups alone (computed)`,
    },
  ],
});
