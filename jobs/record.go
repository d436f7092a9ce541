package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reliapi/reliapi"
)

// parseJob reads a job from an HGETALL reply inside a script reply.
func parseJob(v any) (*reliapi.Job, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, errors.New("malformed job record")
	}
	fields := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, _ := list[i].(string)
		v, _ := list[i+1].(string)
		fields[k] = v
	}
	return jobFromFields(fields)
}

// jobFromRecord reads a job from a record a script packed: its HGETALL,
// field, value pairs, with cmsgpack (see unpackStrings) — or, from a
// script of an earlier build, with cjson, as a JSON array.
func jobFromRecord(record []byte) (*reliapi.Job, error) {
	var pairs []string
	var err error
	if len(record) > 0 && record[0] == '[' {
		err = json.Unmarshal(record, &pairs)
	} else {
		pairs, err = unpackStrings(record)
	}
	if err != nil || len(pairs)%2 != 0 {
		return nil, errors.New("malformed job record")
	}
	fields := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		fields[pairs[i]] = pairs[i+1]
	}
	return jobFromFields(fields)
}

func jobFromFields(f map[string]string) (*reliapi.Job, error) {
	j := &reliapi.Job{
		ID:             f["id"],
		Tenant:         f["tenant"],
		Kind:           reliapi.JobKind(f["kind"]),
		Status:         reliapi.JobStatus(f["status"]),
		Target:         f["target"],
		IdempotencyKey: f["idempotency_key"],
		RequestHash:    f["request_hash"],
		RequestID:      f["request_id"],
		Queue:          f["queue"],
		TaskID:         f["task_id"],
		CacheHash:      f["cache_hash"],
		CreatedAt:      millis(f["created_at"]),
		StartedAt:      millis(f["started_at"]),
		CompletedAt:    millis(f["completed_at"]),
		Deadline:       millis(f["deadline"]),
		ClaimUntil:     millis(f["claim_until"]),
		Watchers:       watchers(f["watchers"]),
	}
	j.Attempts, _ = strconv.Atoi(f["attempts"])
	if j.ID == "" || !j.Status.Valid() {
		return nil, fmt.Errorf("malformed job record %q", j.ID)
	}
	if r := f["result"]; r != "" {
		j.Result = new(reliapi.Result)
		if err := json.Unmarshal([]byte(r), j.Result); err != nil {
			return nil, fmt.Errorf("job %s: decoding result: %w", j.ID, err)
		}
	}
	if w := f["webhook"]; w != "" {
		j.Webhook = new(reliapi.Subscription)
		if err := json.Unmarshal([]byte(w), j.Webhook); err != nil {
			return nil, fmt.Errorf("job %s: decoding webhook: %w", j.ID, err)
		}
		j.WebhookStatus = f["webhook_status"]
	}
	if r := f["route"]; r != "" {
		j.Route = new(reliapi.RouteDecision)
		if err := json.Unmarshal([]byte(r), j.Route); err != nil {
			return nil, fmt.Errorf("job %s: decoding route: %w", j.ID, err)
		}
	}
	if d := f["webhook_deliveries"]; d != "" {
		if err := json.Unmarshal([]byte(d), &j.Deliveries); err != nil {
			return nil, fmt.Errorf("job %s: decoding webhook deliveries: %w", j.ID, err)
		}
	}
	return j, nil
}

func webhookStatus(s *reliapi.Subscription) string {
	if s == nil {
		return ""
	}
	return reliapi.WebhookPending
}

// millis parses a Unix millisecond timestamp; empty means the zero time.
func millis(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// watchers reads a record's watchers field: space-separated channels.
func watchers(field string) []string {
	if field == "" {
		return nil
	}
	return strings.Fields(field)
}
