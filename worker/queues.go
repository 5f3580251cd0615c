package worker

import (
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// QueueStats is one asynq queue at one moment: its tasks by state and how
// long its oldest pending task has waited.
type QueueStats struct {
	Queue   string
	States  map[string]int // pending, active, scheduled, retry, archived, completed, aggregating
	Latency time.Duration
}

// Queues reads the depth of omo's queues from Redis, for the metrics. Safe
// for concurrent use; it shares the caller's Redis client and never closes
// it.
type Queues struct {
	insp *asynq.Inspector
}

// NewQueues returns a Queues reading through rdb.
func NewQueues(rdb redis.UniversalClient) *Queues {
	return &Queues{insp: asynq.NewInspectorFromRedisClient(rdb)}
}

// Stats returns every queue in Redis, and Queue even before its first task
// (all zeros), sorted by name. An error means Redis did not answer.
func (q *Queues) Stats() ([]QueueStats, error) {
	names, err := q.insp.Queues()
	if err != nil {
		return nil, err
	}
	known := slices.Clone(names) // asynq knows a queue from its first task on
	if !slices.Contains(names, Queue) {
		names = append(names, Queue)
	}
	slices.Sort(names)
	out := make([]QueueStats, 0, len(names))
	for _, name := range names {
		st := QueueStats{Queue: name, States: map[string]int{"pending": 0, "active": 0, "scheduled": 0,
			"retry": 0, "archived": 0, "completed": 0, "aggregating": 0}}
		if slices.Contains(known, name) {
			info, err := q.insp.GetQueueInfo(name)
			if err != nil {
				return nil, err
			}
			st.Latency = info.Latency
			st.States["pending"], st.States["active"], st.States["scheduled"] = info.Pending, info.Active, info.Scheduled
			st.States["retry"], st.States["archived"] = info.Retry, info.Archived
			st.States["completed"], st.States["aggregating"] = info.Completed, info.Aggregating
		}
		out = append(out, st)
	}
	return out, nil
}
