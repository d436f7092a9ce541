package jobs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
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

// List returns a page of the tenant's jobs, newest first: by creation time,
// and by descending ID among jobs created in the same millisecond. Pages go
// by that order rather than by position, so jobs created or expiring while a
// client pages through never make a job appear twice or go missing.
func (s *Store) List(ctx context.Context, tenant string, opt ListOptions) (Page, error) {
	limit := opt.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	key := tenantJobsKey(tenant)

	var after *position
	if opt.Cursor != "" {
		pos, err := decodeCursor(opt.Cursor)
		if err != nil {
			return Page{}, err
		}
		after = &pos
	}
	var page Page
	for scanned := 0; scanned < listScanBudget; {
		entries, err := s.entriesAfter(ctx, key, after, limit)
		if err != nil {
			return Page{}, err
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
			after = &entries[i]
			if j == nil || (opt.Status != "" && j.Status != opt.Status) {
				continue
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) < limit {
				continue
			}
			more := i < len(entries)-1
			if !more {
				next, err := s.entriesAfter(ctx, key, after, 1)
				if err != nil {
					return Page{}, err
				}
				more = len(next) > 0
			}
			if more {
				page.Next = encodeCursor(*after)
			}
			return page, nil
		}
		if len(entries) < limit {
			return page, nil
		}
	}
	// Out of scan budget: hand back what we have and where to go on from.
	page.Next = encodeCursor(*after)
	return page, nil
}

// position is an entry of a tenant's index: a job ID and its creation time
// in milliseconds, the entry's score.
type position struct {
	score int64
	id    string
}

// entriesAfter returns up to n index entries that come after pos in List
// order, or the first n when pos is nil. pos need not be in the index any
// more (its job may have expired).
func (s *Store) entriesAfter(ctx context.Context, key string, pos *position, n int) ([]position, error) {
	if pos == nil {
		zs, err := s.rdb.ZRevRangeWithScores(ctx, key, 0, int64(n)-1).Result()
		if err != nil {
			return nil, fmt.Errorf("listing jobs: %w", err)
		}
		return positions(nil, zs, n), nil
	}
	// The rest of pos's own millisecond, then older entries. Both are
	// selected by score, not rank, so entries added or removed meanwhile
	// shift nothing. Redis orders members of equal score bytewise, like Go.
	score := strconv.FormatInt(pos.score, 10)
	var same, older *redis.ZSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		same = p.ZRevRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: score, Max: score})
		older = p.ZRevRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: "(" + score, Count: int64(n)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	rest := same.Val()
	i, _ := slices.BinarySearchFunc(rest, pos.id, func(z redis.Z, id string) int {
		return -strings.Compare(z.Member.(string), id) // rest is in descending order
	})
	for i < len(rest) && rest[i].Member.(string) == pos.id {
		i++
	}
	out := positions(nil, rest[i:], n)
	return positions(out, older.Val(), n), nil
}

// positions appends the entries of zs to out, up to n in all.
func positions(out []position, zs []redis.Z, n int) []position {
	for _, z := range zs {
		if len(out) == n {
			break
		}
		out = append(out, position{score: int64(z.Score), id: z.Member.(string)})
	}
	return out
}

// decodeCursor reads a cursor made by encodeCursor.
func decodeCursor(cursor string) (position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return position{}, ErrInvalidCursor
	}
	scoreText, id, ok := strings.Cut(string(raw), ":")
	score, perr := strconv.ParseInt(scoreText, 10, 64)
	if !ok || perr != nil || id == "" {
		return position{}, ErrInvalidCursor
	}
	return position{score: score, id: id}, nil
}

// getMany reads several jobs in one round trip; missing ones are nil.
func (s *Store) getMany(ctx context.Context, tenant string, entries []position) ([]*reliapi.Job, error) {
	cmds := make([]*redis.MapStringStringCmd, len(entries))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = p.HGetAll(ctx, jobKey(e.id))
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

// encodeCursor names an index entry, "score:id" in URL-safe base64. The
// next page starts after that place in List order, whether or not the entry
// is still there.
func encodeCursor(p position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.score, 10) + ":" + p.id))
}
