package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// Event is one entry of a job's event stream: the start of a streamed
// answer ("meta"), its pieces as the worker receives them ("chunk"), and
// its end ("done" or "error"; an error may come without a start). ID is the Redis stream entry ID, which orders events and lets
// a reader go on after the last one it saw.
type Event struct {
	ID   string          `json:"-"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// The event types.
const (
	EventMeta  = "meta"
	EventChunk = "chunk"
	EventDone  = "done"
	EventError = "error"
)

// StreamMeta is the data of a "meta" event: who answers a streamed call,
// and what it was estimated to cost (seed §8).
type StreamMeta struct {
	JobID             string   `json:"job_id"`
	Target            string   `json:"target"`
	Provider          string   `json:"provider"`
	Model             string   `json:"model"`
	CostEstimateUSD   *float64 `json:"cost_estimate_usd"`
	CostPolicyApplied string   `json:"cost_policy_applied,omitempty"`
	MaxTokensReduced  bool     `json:"max_tokens_reduced,omitempty"`
	OriginalMaxTokens *int     `json:"original_max_tokens,omitempty"`
}

// StreamChunk is the data of a "chunk" event: a piece of the answer.
type StreamChunk struct {
	Delta        string  `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

// StreamDone is the data of a "done" event.
type StreamDone struct {
	FinishReason string        `json:"finish_reason"`
	Usage        reliapi.Usage `json:"usage"`
	Model        string        `json:"model"`
	CostUSD      *float64      `json:"cost_usd"`
}

// NewEvent is an event of typ with data encoded (for events made up
// rather than read from the stream).
func NewEvent(id, typ string, data any) Event {
	raw, _ := json.Marshal(data)
	return Event{ID: id, Type: typ, Data: raw}
}

// Terminal reports whether e ends the stream.
func (e Event) Terminal() bool { return e.Type == EventDone || e.Type == EventError }

// AppendEvent adds an event to a job's stream. The stream lives as long as
// job records do.
func (s *Store) AppendEvent(ctx context.Context, id, typ string, data any) error {
	return s.AppendEvents(ctx, id, NewEvent("", typ, data))
}

// AppendEvents adds events to a job's stream in one round trip.
func (s *Store) AppendEvents(ctx context.Context, id string, events ...Event) error {
	key := eventsKey(id)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range events {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"t", e.Type, "d", []byte(e.Data)}})
		}
		p.Expire(ctx, key, s.cfg.Retention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("job events: %w", err)
	}
	return nil
}

// Events returns a job's events after the entry ID after ("0" for all),
// waiting up to block for the first one (not at all when block is zero);
// none when block passes.
func (s *Store) Events(ctx context.Context, id, after string, block time.Duration) ([]Event, error) {
	if block <= 0 {
		block = -1 // go-redis: no BLOCK argument; BLOCK 0 would wait forever
	}
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{eventsKey(id), after}, Count: 100, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("job events: %w", err)
	}
	var out []Event
	for _, st := range res {
		for _, m := range st.Messages {
			out = append(out, *toEvent(m))
		}
	}
	return out, nil
}

// LastEvent returns a job's latest event, nil when it has none.
func (s *Store) LastEvent(ctx context.Context, id string) (*Event, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, eventsKey(id), "+", "-", 1).Result()
	if err != nil {
		return nil, fmt.Errorf("job events: %w", err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	return toEvent(msgs[0]), nil
}

// toEvent reads a stream entry.
func toEvent(m redis.XMessage) *Event {
	typ, _ := m.Values["t"].(string)
	data, _ := m.Values["d"].(string)
	return &Event{ID: m.ID, Type: typ, Data: json.RawMessage(data)}
}
