import type { Context } from 'aws-lambda';

/**
 * A value a middleware works out for one invocation and its handler reads back from the Lambda
 * context it was given: typed on both sides, without widening the context middy hands over.
 */
export class InvocationSlot<T> {
  readonly #values = new WeakMap<Context, T>();

  constructor(private readonly what: string) {}

  set(context: Context, value: T): void {
    this.#values.set(context, value);
  }

  of(context: Context): T {
    const value = this.#values.get(context);
    if (value === undefined) throw new Error(`${this.what} was not loaded for this invocation`);
    return value;
  }
}
