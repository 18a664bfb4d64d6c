/*
 * X-Ray tracing from the stage parameter `tracing` ("true" or "false", default false): osls reads
 * provider.tracing.lambda as a mode when given a string, so "false" would turn it on; this hands it
 * a boolean, and the functions the same choice as POWERTOOLS_TRACE_ENABLED (lib/tracing.ts).
 */
module.exports = async ({ resolveVariable }) => {
  const value = String((await resolveVariable('param:tracing')) ?? 'false')
    .trim()
    .toLowerCase();
  if (value !== 'true' && value !== 'false') {
    throw new Error(`param tracing: ${JSON.stringify(value)} is neither "true" nor "false"`);
  }
  return { lambda: value === 'true', enabled: value };
};
