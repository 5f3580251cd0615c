// Package worker runs omo's queued work on asynq: one task type per outbox
// kind, a handler per type, and the relay that moves committed outbox items
// onto the queue.
//
// A task carries only its outbox item's ID, which is also the asynq task ID:
// enqueueing the same item twice is refused by asynq while the task exists,
// and a handler that finds its item no longer pending does nothing, so at
// least once delivery does the work once. The database is the source of
// truth; Redis may lose tasks (the embedded Redis loses all of them on
// restart) and the relay's sweep puts back whatever is still pending.
//
// This is the only package that imports asynq.
package worker
