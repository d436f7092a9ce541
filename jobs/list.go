package jobs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
)

// ErrInvalidCursor means a List cursor was not one this package made.
var ErrInvalidCursor = errors.New("invalid cursor")

// List limits.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
	// listScanBudget bounds how many index entries one List call examines
	// while filtering, so a rare status cannot turn a page into a full scan.
	listScanBudget = 1000
)

// ListOptions selects a page of a tenant's jobs, newest first.
type ListOptions struct {
	// Status keeps only jobs in that status; empty keeps all.
	Status reliapi.JobStatus
	// Limit is the page size, DefaultListLimit when zero, at most MaxListLimit.
	Limit int
	// Cursor continues after the page that returned it.
	Cursor string
}

// Page is one page of jobs. Next is empty on the last page.
type Page struct {
	Jobs []*reliapi.Job
	Next string
}

// List returns a page of the tenant's jobs, newest first.
func (s *Store) List(ctx context.Context, tenant string, opt ListOptions) (Page, error) {
	limit := opt.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	key := tenantJobsKey(tenant)

	start, err := s.cursorStart(ctx, key, opt.Cursor)
	if err != nil {
		return Page{}, err
	}
	var (
		page Page
		last redis.Z
	)
	for scanned := 0; scanned < listScanBudget; {
		entries, err := s.rdb.ZRevRangeWithScores(ctx, key, start, start+int64(limit)-1).Result()
		if err != nil {
			return Page{}, fmt.Errorf("listing jobs: %w", err)
		}
		if len(entries) == 0 {
			return page, nil
		}
		jobs, err := s.getMany(ctx, tenant, entries)
		if err != nil {
			return Page{}, err
		}
		for i, j := range jobs {
			scanned++
			last = entries[i]
			if j == nil || (opt.Status != "" && j.Status != opt.Status) {
				continue
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) < limit {
				continue
			}
			more := i < len(entries)-1
			if !more {
				n, err := s.rdb.ZCard(ctx, key).Result()
				if err != nil {
					return Page{}, fmt.Errorf("listing jobs: %w", err)
				}
				more = start+int64(i)+1 < n
			}
			if more {
				page.Next = encodeCursor(last)
			}
			return page, nil
		}
		if len(entries) < limit {
			return page, nil
		}
		start += int64(len(entries))
	}
	// Out of scan budget: hand back what we have and where to go on from.
	page.Next = encodeCursor(last)
	return page, nil
}

// cursorStart turns a cursor into the index of the first entry after it.
func (s *Store) cursorStart(ctx context.Context, key, cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, ErrInvalidCursor
	}
	scoreText, id, ok := strings.Cut(string(raw), ":")
	score, perr := strconv.ParseInt(scoreText, 10, 64)
	if !ok || perr != nil || id == "" {
		return 0, ErrInvalidCursor
	}
	rank, err := s.rdb.ZRevRank(ctx, key, id).Result()
	if err == nil {
		return rank + 1, nil
	}
	if !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("listing jobs: %w", err)
	}
	// The cursor's job expired meanwhile: go on from the first older entry.
	n, err := s.rdb.ZCount(ctx, key, "("+strconv.FormatInt(score, 10), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("listing jobs: %w", err)
	}
	return n, nil
}

// getMany reads several jobs in one round trip; missing ones are nil.
func (s *Store) getMany(ctx context.Context, tenant string, entries []redis.Z) ([]*reliapi.Job, error) {
	cmds := make([]*redis.MapStringStringCmd, len(entries))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = p.HGetAll(ctx, jobKey(e.Member.(string)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	jobs := make([]*reliapi.Job, len(entries))
	for i, c := range cmds {
		f := c.Val()
		if len(f) == 0 || f["tenant"] != tenant {
			continue
		}
		j, err := jobFromFields(f)
		if err != nil {
			return nil, err
		}
		jobs[i] = j
	}
	return jobs, nil
}

// encodeCursor names an index entry: its score keeps the place when the
// entry itself expires before the next page is asked for.
func encodeCursor(e redis.Z) string {
	return base64.RawURLEncoding.EncodeToString(
		[]byte(strconv.FormatInt(int64(e.Score), 10) + ":" + e.Member.(string)))
}
