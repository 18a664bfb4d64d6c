import '../../scripts/check-node.mjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { apiUrlOf, type CliRun, deploy, infoArgs } from '../../scripts/deploy-plan.ts';

/** What `osls info --verbose` prints for a deployed stack (osls 4.3: lib/plugins/aws/info/display.js). */
const INFO = `\u001b[90mservice:\u001b[39m litellm-virtual-keys
\u001b[90mstage:\u001b[39m prod
\u001b[90mregion:\u001b[39m eu-west-1
\u001b[90mstack:\u001b[39m litellm-virtual-keys-prod
\u001b[90mendpoints:\u001b[39m
  POST - https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/keys
\u001b[90m
Stack Outputs:
\u001b[39m  LabEventFailureQueueUrl: https://sqs.eu-west-1.amazonaws.com/111122223333/litellm-virtual-keys-prod-failed-events
  HttpApiUrl: https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com
  ServerlessDeploymentBucketName: litellm-virtual-keys-prod-serverlessdeploymentbuck-1x2y3z
`;

/** A CLI that records its runs and answers `info` with `info`; no AWS. */
function fakeCli(answers: { deploy?: number; info?: string; infoStatus?: number } = {}) {
  const runs: { args: readonly string[]; stdio: string }[] = [];
  const run: CliRun = (args, stdio) => {
    runs.push({ args, stdio });
    if (args[0] === 'deploy') return { status: answers.deploy ?? 0, stdout: null };
    return { status: answers.infoStatus ?? 0, stdout: answers.info ?? INFO };
  };
  return { runs, run };
}

describe('npm run deploy', () => {
  it('refuses without a stage, in one line, running nothing', () => {
    const cli = fakeCli();
    for (const args of [[], ['--region', 'eu-west-1'], ['--stage'], ['--stage', '--verbose']]) {
      const { status, lines } = deploy(args, cli.run);
      assert.equal(status, 1);
      assert.deepEqual(lines, [
        'Name the stage to deploy, which names the stack and its resources: npm run deploy -- --stage <stage> [osls deploy options]',
      ]);
    }
    assert.deepEqual(cli.runs, []);

    const npm = spawnSync('npm', ['run', '--silent', 'deploy'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(npm.status, 1);
    assert.deepEqual(npm.stderr.trim().split('\n'), [
      'Name the stage to deploy, which names the stack and its resources: npm run deploy -- --stage <stage> [osls deploy options]',
    ]);
  });

  it('deploys with the options given, then prints the API URL from the same stack’s outputs', () => {
    const cli = fakeCli();
    const args = ['--stage', 'prod', '--region=eu-west-1', '--param', 'litellmUrl=https://l.example.com'];
    assert.deepEqual(deploy(args, cli.run), {
      status: 0,
      lines: ['API URL: https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com'],
    });
    assert.deepEqual(cli.runs, [
      { args: ['deploy', ...args], stdio: 'inherit' },
      {
        args: [
          'info',
          '--verbose',
          '--stage',
          'prod',
          '--region',
          'eu-west-1',
          '--param',
          'litellmUrl=https://l.example.com',
        ],
        stdio: 'pipe',
      },
    ]);
  });

  it('passes a relative --package as an absolute path, since the CLI runs in a folder of its own', () => {
    const cli = fakeCli();
    deploy(['--stage', 'prod', '--package', '.serverless'], cli.run);
    deploy(['--stage=prod', '--package=out/prod'], cli.run);
    assert.deepEqual(
      cli.runs.filter((r) => r.args[0] === 'deploy').map((r) => r.args),
      [
        ['deploy', '--stage', 'prod', '--package', resolve('.serverless')],
        ['deploy', '--stage=prod', `--package=${resolve('out/prod')}`],
      ],
    );
  });

  it('stops at a failed deploy, and says how to find the URL when info does not show it', () => {
    const failed = fakeCli({ deploy: 2 });
    assert.deepEqual(deploy(['--stage', 'prod'], failed.run), {
      status: 2,
      lines: ['osls deploy failed (above).'],
    });
    assert.equal(failed.runs.length, 1);

    for (const answers of [
      { info: 'Stack Outputs:\n  KeyValuesKmsKeyArn: arn:aws:kms:…' },
      { infoStatus: 1 },
    ]) {
      assert.deepEqual(deploy(['--stage', 'prod'], fakeCli(answers).run), {
        status: 1,
        lines: [
          'Deployed, but the API URL could not be read: run npx osls info --verbose --stage prod and look for HttpApiUrl.',
        ],
      });
    }
  });

  it('reads HttpApiUrl only, never another output or an endpoint line', () => {
    assert.equal(apiUrlOf(INFO), 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com');
    assert.equal(apiUrlOf(INFO.replace(/ {2}HttpApiUrl: .*\n/, '')), undefined);
    assert.deepEqual(infoArgs(['--stage', 'dev']), ['info', '--verbose', '--stage', 'dev']);
  });
});
