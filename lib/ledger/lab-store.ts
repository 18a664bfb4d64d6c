import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { blankLab, inFlightShard, type Lab, labFromItem, labItemKey, labToItem } from './lab-record.ts';
import { dynamo, isConditionFailure, send } from './table.ts';

/** A write named a version the lab no longer has: someone else wrote it since it was read. */
export class VersionConflict extends Error {
  override name = 'VersionConflict';
}

/**
 * Where labs are kept: one record per lab, each write conditional on the version it replaces.
 * The DynamoDB table in production; an in-memory map in the protocol's tests.
 */
export interface LabStore {
  /** The lab as it is now (read consistently); a blank lab (version 0) when the ledger has none. */
  read(guid: string): Promise<Lab>;
  /**
   * Take the lab's lease until `until` (epoch ms) unless another holds it unexpired: the lab as
   * leased, or undefined. A lab not already in flight is in flight from `now` on.
   */
  acquire(guid: string, owner: string, until: number, now: number): Promise<Lab | undefined>;
  /** Replace the lab if it is still at `lab.version`; the lab as written (the next version). */
  write(lab: Lab): Promise<Lab>;
}

/** The ledger table: a lab item written whole, guarded by its version. */
export class DynamoLabStore implements LabStore {
  constructor(readonly table: string) {}

  async read(guid: string): Promise<Lab> {
    const out = await send('GetItem', () =>
      dynamo().send(new GetCommand({ TableName: this.table, Key: labItemKey(guid), ConsistentRead: true })),
    );
    return out.Item ? labFromItem(out.Item) : blankLab(guid);
  }

  async acquire(guid: string, owner: string, until: number, now: number): Promise<Lab | undefined> {
    try {
      const out = await send('UpdateItem', () =>
        dynamo().send(
          new UpdateCommand({
            TableName: this.table,
            Key: labItemKey(guid),
            UpdateExpression:
              'SET guid = :guid, lease = :lease, version = if_not_exists(version, :zero) + :one, ' +
              'in_flight_since = if_not_exists(in_flight_since, :since), in_flight_shard = :shard',
            ConditionExpression: 'attribute_not_exists(lease) OR lease.#until < :now',
            ExpressionAttributeNames: { '#until': 'until' },
            ExpressionAttributeValues: {
              ':guid': guid,
              ':lease': { owner, until },
              ':zero': 0,
              ':one': 1,
              ':now': now,
              ':since': new Date(now).toISOString(),
              ':shard': inFlightShard(guid),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return labFromItem(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async write(lab: Lab): Promise<Lab> {
    const next = { ...lab, version: lab.version + 1 };
    try {
      await send('PutItem', () =>
        dynamo().send(
          new PutCommand({
            TableName: this.table,
            Item: labToItem(next),
            ...(lab.version === 0
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: 'version = :version',
                  ExpressionAttributeValues: { ':version': lab.version },
                }),
          }),
        ),
      );
    } catch (error) {
      if (isConditionFailure(error))
        throw new VersionConflict(`lab ${lab.guid} changed since version ${lab.version}`);
      throw error;
    }
    return next;
  }
}
