/*
 * The body of the operations dashboard (resources/dashboard.yml), as the Fn::Sub of its JSON: the
 * region, function names, queue names and alarm ARNs are put in by CloudFormation. One widget per
 * question an operator asks: what the operations did, how long they took, whether each LiteLLM
 * target answers, what the nightly sweep reported, what waits in the queues, and which alarm fires.
 */
const { targetsOf, functionsOf, NAMESPACE } = require('./monitored.cjs');
const alarmsOf = require('./alarms.cjs');

/** The alarms of resources/alarms.yml; those per target, function and operation come from alarms.cjs. */
const FIXED_ALARMS = [
  'FailedEventsAlarm',
  'ParkedEventsAlarm',
  'LabEventsWaitingAlarm',
  'LabEventsParkedAlarm',
  'SweepStoppedEarlyAlarm',
  'SweepNotCompletedAlarm',
  'SecretsManagerThrottledAlarm',
  'KmsThrottledAlarm',
  'DynamoDbThrottledAlarm',
  'LabsInFlightTooLongAlarm',
  'ConfigErrorsAlarm',
];

/** The figures of a sweep's report (lib/sweep/metrics.ts), real runs only. */
const SWEEP_COUNTS = [
  'KeysScanned',
  'KeysExpired',
  'KeysSwept',
  'SweepFailures',
  'KeysPending',
  'LateKeysDeleted',
  'UnrecordedKeys',
  'ReconcileBreakerOpen',
  'ExpiryWarnings',
  'SweepStoppedEarly',
  'SweepCompleted',
];

const SERVICE = ['service', 'litellm-virtual-keys'];
const REAL_RUN = [...SERVICE, 'dry_run', 'false'];

/** A sum over every package of a key count (lib/metrics.ts publishKeyCounts). */
const keyCount = (name, id) => [
  {
    id,
    label: name,
    expression: `SUM(SEARCH('{${NAMESPACE},operation,package,service} MetricName="${name}"', 'Sum', 300))`,
  },
];
/** One line per operation of an outcome (lib/metrics.ts publishOutcome). */
const byOperation = (name, id) => [
  { id, expression: `SEARCH('{${NAMESPACE},operation,service} MetricName="${name}"', 'Sum', 300)` },
];

function graph(title, x, y, metrics, extra = {}) {
  return {
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: {
      title,
      region: `\${AWS::Region}`,
      view: 'timeSeries',
      period: 300,
      stat: 'Sum',
      metrics,
      ...extra,
    },
  };
}

module.exports = async ({ resolveVariable }) => {
  const functions = await functionsOf(resolveVariable);
  const targets = await targetsOf(resolveVariable);
  const generated = Object.entries((await alarmsOf({ resolveVariable })).resources.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm')
    .map(([logicalId]) => logicalId);
  const queue = (logicalId, metric = 'ApproximateNumberOfMessagesVisible') => [
    'AWS/SQS',
    metric,
    'QueueName',
    `\${${logicalId}.QueueName}`,
    {
      stat: 'Maximum',
      label: `${logicalId} ${metric === 'ApproximateNumberOfMessagesVisible' ? 'visible' : 'oldest (s)'}`,
    },
  ];
  const widgets = [
    graph('Keys created, deleted, extended, moved, swept', 0, 0, [
      ...['KeysCreated', 'KeysDeleted', 'KeysExtended', 'KeysMoved', 'KeysSwept'].map((name, i) =>
        keyCount(name, `k${i}`),
      ),
    ]),
    graph('Failures (page) and refusals (4xx, normal) by operation', 12, 0, [
      byOperation('Failures', 'failures'),
      byOperation('Refusals', 'refusals'),
    ]),
    graph(
      'Duration by function, p50 and p99 (ms)',
      0,
      6,
      functions.flatMap(({ key, logicalId }) =>
        ['p50', 'p99'].map((stat) => [
          'AWS/Lambda',
          'Duration',
          'FunctionName',
          `\${${logicalId}}`,
          { stat, label: `${key} ${stat}` },
        ]),
      ),
      { stat: 'p99' },
    ),
    graph(
      'LiteLLM unavailable, by target',
      12,
      6,
      targets.map((target) => [
        NAMESPACE,
        'LiteLlmUnavailable',
        ...SERVICE,
        'target',
        target,
        { label: target },
      ]),
    ),
    graph(
      'Nightly sweep report (real runs, per day)',
      0,
      12,
      SWEEP_COUNTS.map((name) => [NAMESPACE, name, ...REAL_RUN]),
      { period: 86400, view: 'bar' },
    ),
    graph('Sweep duration (ms) and oldest lab in flight (s)', 12, 12, [
      [NAMESPACE, 'SweepDuration', ...REAL_RUN, { stat: 'Maximum' }],
      [NAMESPACE, 'OldestInFlightSeconds', ...SERVICE, { stat: 'Maximum', yAxis: 'right' }],
      [NAMESPACE, 'LabsInFlightTooLong', ...SERVICE, { stat: 'Maximum', yAxis: 'right' }],
    ]),
    graph('Queues: lab events, parked, failed', 0, 18, [
      queue('LabEventQueue'),
      queue('LabEventParkedQueue'),
      queue('LabEventFailureQueue'),
      queue('LabEventQueue', 'ApproximateAgeOfOldestMessage'),
    ]),
    graph('AWS throttling, configuration errors, parked events', 12, 18, [
      ...['SecretsManager', 'KMS', 'DynamoDB'].map((service) => [
        NAMESPACE,
        'AwsThrottled',
        'service',
        service,
      ]),
      [
        {
          id: 'config',
          label: 'ConfigErrors',
          expression: `SUM(SEARCH('{${NAMESPACE},function,service} MetricName="ConfigErrors"', 'Sum', 300))`,
        },
      ],
      [NAMESPACE, 'LabEventsParked', ...SERVICE],
    ]),
    {
      type: 'alarm',
      x: 0,
      y: 24,
      width: 24,
      height: 6,
      properties: {
        title: 'Alarms (runbooks: docs/operating.md, Alarms)',
        alarms: [...FIXED_ALARMS, ...generated].map((logicalId) => `\${${logicalId}.Arn}`),
      },
    },
  ];
  return { body: { 'Fn::Sub': JSON.stringify({ widgets }) } };
};
