import { expect, it } from 'vitest';
import { outcomeOf } from '../../src/observe/request-record.js';
import { StoreConflictError } from '../../src/store/redis-errors.js';

// A Redis key another writer kept changing while a session was being created reached the
// request path as a plain Error: a 500 "internal error", logged as a bug. It is the store being
// unusable for that port at that moment: a 503 STORE_UNAVAILABLE with its reason.
it('a Redis key that keeps changing is answered as a store failure, not as a bug', () => {
  expect(outcomeOf(new StoreConflictError(10201))).toEqual({
    outcome: 'STORE_UNAVAILABLE',
    status: 503,
    message: 'the Redis key of port 10201 kept changing while a session was being created',
  });
});
