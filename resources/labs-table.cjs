/*
 * The lab ledger every function and grant uses: the stack's own LabsTable, or, once parameter
 * restoredLabsTable names a table made by a point-in-time restore, that table. The stack then stops
 * managing LabsTable (condition ManageLabsTable; DeletionPolicy Retain keeps the old one) and creates
 * nothing in its place, so the restore replaces no role or function (docs/operating.md, "Restoring
 * the lab ledger"). With the parameter empty the template is what it always was.
 */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const INDEXES = {
  labsByState: 'labs-by-state',
  labsByClient: 'labs-by-client',
  labsBySweep: 'labs-by-sweep',
  labsInFlight: 'labs-in-flight',
};

module.exports = async ({ resolveVariable }) => {
  const restored = String((await resolveVariable('param:restoredLabsTable')) ?? '').trim();
  if (restored && !TABLE_NAME.test(restored)) {
    throw new Error(`param restoredLabsTable must be a DynamoDB table name, not ${JSON.stringify(restored)}`);
  }
  const restoredArn = `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${restored}`;
  const indexArn = (index) =>
    restored
      ? { 'Fn::Sub': `${restoredArn}/index/${index}` }
      : { 'Fn::Sub': `\${LabsTable.Arn}/index/${index}` };
  return {
    name: restored || String(await resolveVariable('param:labsTable')),
    arn: restored ? { 'Fn::Sub': restoredArn } : { 'Fn::GetAtt': ['LabsTable', 'Arn'] },
    ...Object.fromEntries(Object.entries(INDEXES).map(([key, index]) => [key, indexArn(index)])),
  };
};
