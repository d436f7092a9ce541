package jobs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// createN creates n jobs of tenant and returns their IDs, oldest first.
func (b *bundle) createN(t *testing.T, tenant string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.create(t, tenant).ID
	}
	return ids
}

// createSpread is createN with each job in a millisecond of its own.
func (b *bundle) createSpread(t *testing.T, tenant string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		j := b.create(t, tenant)
		ids[i] = j.ID
		b.nextMilli(t, j.CreatedAt)
	}
	return ids
}

// walk lists every page of tenant's jobs and returns the IDs in the order
// listed and the size of each page. It fails the test if a page is larger
// than the limit, holds a nil job or another tenant's or status's job, or
// when the pages do not end.
func (b *bundle) walk(t *testing.T, tenant string, opt jobs.ListOptions) (ids []string, sizes []int) {
	t.Helper()
	limit := opt.Limit
	if limit <= 0 {
		limit = jobs.DefaultListLimit
	}
	limit = min(limit, jobs.MaxListLimit)
	for range 10000 {
		page, err := b.store.List(t.Context(), tenant, opt)
		if err != nil {
			t.Fatalf("List(%s, %+v): %v", tenant, opt, err)
		}
		if len(page.Jobs) > limit {
			t.Fatalf("page of %d jobs, limit %d", len(page.Jobs), limit)
		}
		for _, j := range page.Jobs {
			if j == nil || j.Tenant != tenant || (opt.Status != "" && j.Status != opt.Status) {
				t.Fatalf("List(%s, status %q) returned %+v", tenant, opt.Status, j)
			}
			ids = append(ids, j.ID)
		}
		sizes = append(sizes, len(page.Jobs))
		if page.Next == "" {
			return ids, sizes
		}
		opt.Cursor = page.Next
	}
	t.Fatal("List did not reach a last page after 10000 pages")
	return nil, nil
}

// wantNewestFirst is ids, oldest first, in the order List returns them:
// by creation time, newest first, and by descending ID within a millisecond.
func (b *bundle) wantNewestFirst(t *testing.T, tenant string, ids []string) []string {
	t.Helper()
	type entry struct {
		id    string
		score float64
	}
	entries := make([]entry, len(ids))
	for i, id := range ids {
		score, err := b.rdb.ZScore(t.Context(), indexKey(tenant), id).Result()
		if err != nil {
			t.Fatalf("ZSCORE %s: %v", id, err)
		}
		entries[i] = entry{id, score}
	}
	slices.SortFunc(entries, func(x, y entry) int {
		if x.score != y.score {
			if x.score > y.score {
				return -1
			}
			return 1
		}
		return -strings.Compare(x.id, y.id)
	})
	want := make([]string, len(entries))
	for i, e := range entries {
		want[i] = e.id
	}
	return want
}

// assertSameList fails unless got lists want exactly, naming what was
// listed twice, listed but not wanted, and lost when it does not.
func assertSameList(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	wanted := make(map[string]bool, len(want))
	for _, id := range want {
		wanted[id] = true
	}
	seen := make(map[string]int)
	var dups, extra, lost []string
	for _, id := range got {
		seen[id]++
		if seen[id] == 2 {
			dups = append(dups, id)
		}
		if !wanted[id] && seen[id] == 1 {
			extra = append(extra, id)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			lost = append(lost, id)
		}
	}
	t.Fatalf("listed %d jobs, want %d: duplicated %v, unexpected %v, lost %v; got\n%v\nwant\n%v",
		len(got), len(want), dups, extra, lost, got, want)
}

// sameMillisecond rescores the index entries of ids to one score, as if the
// jobs had all been created within one millisecond.
func (b *bundle) sameMillisecond(t *testing.T, tenant string, ids []string) {
	t.Helper()
	score, err := b.rdb.ZScore(t.Context(), indexKey(tenant), ids[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := b.rdb.ZAddXX(t.Context(), indexKey(tenant), redis.Z{Score: score, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})

	ids := b.createSpread(t, "acme", 3)
	page, err := b.store.List(t.Context(), "acme", jobs.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range page.Jobs {
		got = append(got, j.ID)
	}
	if want := []string{ids[2], ids[1], ids[0]}; !slices.Equal(got, want) || page.Next != "" {
		t.Errorf("List = %v next %q, want %v and no next page", got, page.Next, want)
	}
	if !reflect.DeepEqual(page.Jobs[0], b.get(t, "acme", ids[2])) {
		t.Errorf("listed job %+v differs from Get", page.Jobs[0])
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		jobs      int
		limit     int
		wantSizes []int
	}{
		{"partial last page", 45, 10, []int{10, 10, 10, 10, 5}},
		{"exact pages", 40, 10, []int{10, 10, 10, 10}},
		{"one page", 7, 10, []int{7}},
		{"limit one", 3, 1, []int{1, 1, 1}},
		{"default limit", 25, 0, []int{jobs.DefaultListLimit, 25 - jobs.DefaultListLimit}},
		{"negative limit", 21, -5, []int{jobs.DefaultListLimit, 21 - jobs.DefaultListLimit}},
		{"limit capped", 105, 500, []int{jobs.MaxListLimit, 105 - jobs.MaxListLimit}},
		{"no jobs", 0, 10, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			ids := b.createN(t, "acme", tt.jobs)

			got, sizes := b.walk(t, "acme", jobs.ListOptions{Limit: tt.limit})
			if !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("page sizes = %v, want %v", sizes, tt.wantSizes)
			}
			assertSameList(t, got, b.wantNewestFirst(t, "acme", ids))
		})
	}
}

func TestListSameMillisecond(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})

	// Created as fast as one client can: many share a millisecond.
	ids := b.createN(t, "acme", 150)
	scores, err := b.rdb.ZRangeWithScores(t.Context(), indexKey("acme"), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	ms := make(map[float64]bool)
	for _, z := range scores {
		ms[z.Score] = true
	}
	t.Logf("%d jobs created in %d distinct milliseconds", len(ids), len(ms))
	got, _ := b.walk(t, "acme", jobs.ListOptions{Limit: 7})
	assertSameList(t, got, b.wantNewestFirst(t, "acme", ids))

	// All of them in one millisecond.
	b.sameMillisecond(t, "acme", ids)
	got, sizes := b.walk(t, "acme", jobs.ListOptions{Limit: 7})
	want := slices.Clone(ids)
	slices.Sort(want)
	slices.Reverse(want)
	assertSameList(t, got, want)
	if len(sizes) != 22 {
		t.Errorf("%d pages of 7 for 150 jobs, want 22", len(sizes))
	}
}

func TestListStatusFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ctx := t.Context()

	byStatus := make(map[reliapi.JobStatus][]string)
	ids := b.createN(t, "acme", 40)
	for i, id := range ids {
		var status reliapi.JobStatus
		switch i % 4 {
		case 0:
			status = reliapi.JobQueued
		case 1:
			b.start(t, id, taskA)
			status = reliapi.JobRunning
		case 2:
			b.start(t, id, taskA)
			b.finish(t, id, reliapi.JobSucceeded, okResult)
			status = reliapi.JobSucceeded
		case 3:
			if _, err := b.store.Cancel(ctx, "acme", id); err != nil {
				t.Fatal(err)
			}
			status = reliapi.JobCanceled
		}
		byStatus[status] = append(byStatus[status], id)
	}

	tests := []struct {
		status    reliapi.JobStatus
		limit     int
		wantSizes []int
	}{
		{reliapi.JobQueued, 4, []int{4, 4, 2}},
		// The oldest running job is not the oldest job: the page it fills
		// cannot know that no more will match, so an empty page follows.
		{reliapi.JobRunning, 5, []int{5, 5, 0}},
		{reliapi.JobSucceeded, 3, []int{3, 3, 3, 1}},
		{reliapi.JobCanceled, 20, []int{10}},
		{reliapi.JobFailed, 5, []int{0}},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			got, sizes := b.walk(t, "acme", jobs.ListOptions{Status: tt.status, Limit: tt.limit})
			if !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("page sizes = %v, want %v", sizes, tt.wantSizes)
			}
			assertSameList(t, got, b.wantNewestFirst(t, "acme", byStatus[tt.status]))
		})
	}
}

// TestListScanBudget checks that a filter matching little ends a page early
// with a cursor instead of scanning the whole index, and that the cursor
// goes on to the match.
func TestListScanBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})

	ids := b.createN(t, "acme", 1100)
	b.start(t, ids[0], taskA) // the oldest

	opt := jobs.ListOptions{Status: reliapi.JobRunning, Limit: 10}
	first, err := b.store.List(t.Context(), "acme", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Jobs) != 0 || first.Next == "" {
		t.Fatalf("first page = %d jobs, next %q; want none and a cursor (scan budget spent)", len(first.Jobs), first.Next)
	}
	opt.Cursor = first.Next
	got, _ := b.walk(t, "acme", opt)
	if want := []string{ids[0]}; !slices.Equal(got, want) {
		t.Errorf("pages after the budget = %v, want %v", got, want)
	}
}

func TestListInvalidCursor(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	b.createN(t, "acme", 3)
	enc := base64.RawURLEncoding.EncodeToString

	for _, cursor := range []string{
		"not base64!",
		enc([]byte("no separator")),
		enc([]byte("abc:" + newJobID())),
		enc([]byte("12.5:" + newJobID())),
		enc([]byte("1700000000000:")),
		enc([]byte(":" + newJobID())),
		base64.StdEncoding.EncodeToString([]byte("1700000000000:job?")), // padded, another alphabet
	} {
		page, err := b.store.List(t.Context(), "acme", jobs.ListOptions{Cursor: cursor})
		if !errors.Is(err, jobs.ErrInvalidCursor) {
			t.Errorf("List with cursor %q = %d jobs, %v; want ErrInvalidCursor", cursor, len(page.Jobs), err)
		}
	}
}

func TestListTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	a := b.createN(t, "acme", 3)
	g := b.createN(t, "globex", 2)

	// Even an index entry naming another tenant's job shows nothing of it.
	b.rdb.ZAdd(t.Context(), indexKey("globex"), redis.Z{Score: 1, Member: a[0]})

	tests := []struct {
		tenant string
		want   []string
	}{
		{"acme", b.wantNewestFirst(t, "acme", a)},
		{"globex", b.wantNewestFirst(t, "globex", g)},
		{"initech", nil},
	}
	for _, tt := range tests {
		got, _ := b.walk(t, tt.tenant, jobs.ListOptions{Limit: 2})
		assertSameList(t, got, tt.want)
	}
}

func TestListSkipsDeletedRecords(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})

	ids := b.createN(t, "acme", 10)
	newest := b.wantNewestFirst(t, "acme", ids)
	// Records gone (expired) while their index entries remain: the newest,
	// one in the middle and the oldest.
	var kept []string
	for i, id := range newest {
		if i == 0 || i == 4 || i == 9 {
			b.rdb.Del(t.Context(), jobKey(id))
			continue
		}
		kept = append(kept, id)
	}

	got, sizes := b.walk(t, "acme", jobs.ListOptions{Limit: 3})
	assertSameList(t, got, kept)
	if want := []int{3, 3, 1}; !slices.Equal(sizes, want) {
		t.Errorf("page sizes = %v, want %v (pages filled past missing records)", sizes, want)
	}
}

// TestListCursorJobExpired checks that a cursor still continues where it
// left off when its own job is gone from the index before the next page.
func TestListCursorJobExpired(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		sameMS  bool
		alsoGo  int // further jobs after the cursor's that go too
		limit   int
		jobs    int
		newerBy int // jobs created after the first page was served
	}{
		{name: "distinct milliseconds", limit: 3, jobs: 10},
		{name: "same millisecond", sameMS: true, limit: 3, jobs: 10},
		{name: "following jobs gone too", alsoGo: 2, limit: 3, jobs: 10},
		{name: "same millisecond, following gone too", sameMS: true, alsoGo: 2, limit: 4, jobs: 12},
		{name: "newer jobs meanwhile", limit: 3, jobs: 10, newerBy: 5},
		{name: "same millisecond, newer jobs meanwhile", sameMS: true, limit: 3, jobs: 10, newerBy: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, jobs.Config{})
			ctx := t.Context()
			var ids []string
			if tt.sameMS {
				ids = b.createN(t, "acme", tt.jobs)
				b.sameMillisecond(t, "acme", ids)
			} else {
				ids = b.createSpread(t, "acme", tt.jobs)
			}
			want := b.wantNewestFirst(t, "acme", ids)

			first, err := b.store.List(ctx, "acme", jobs.ListOptions{Limit: tt.limit})
			if err != nil || len(first.Jobs) != tt.limit || first.Next == "" {
				t.Fatalf("first page = %d jobs, next %q, %v", len(first.Jobs), first.Next, err)
			}
			cursorJob := first.Jobs[tt.limit-1].ID
			if cursorJob != want[tt.limit-1] {
				t.Fatalf("first page ends with %s, want %s", cursorJob, want[tt.limit-1])
			}
			// The cursor's job and maybe some after it expire.
			for _, id := range want[tt.limit-1 : tt.limit+tt.alsoGo] {
				b.rdb.Del(ctx, jobKey(id))
				b.rdb.ZRem(ctx, indexKey("acme"), id)
			}
			b.createN(t, "acme", tt.newerBy)

			rest, _ := b.walk(t, "acme", jobs.ListOptions{Limit: tt.limit, Cursor: first.Next})
			assertSameList(t, rest, want[tt.limit+tt.alsoGo:])
		})
	}
}

// TestListWhileCreating pages through a tenant's jobs while new ones arrive:
// every job that existed before is listed exactly once.
func TestListWhileCreating(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{})
	ids := b.createN(t, "acme", 150)
	want := b.wantNewestFirst(t, "acme", ids)
	old := make(map[string]bool, len(ids))
	for _, id := range ids {
		old[id] = true
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := b.store.Create(t.Context(), newJob(newJobID(), "acme"), nil); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
			}
		})
	}
	got, _ := b.walk(t, "acme", jobs.ListOptions{Limit: 3})
	close(stop)
	wg.Wait()

	var listedOld []string
	seen := make(map[string]bool)
	for _, id := range got {
		if seen[id] {
			t.Errorf("job %s listed twice", id)
		}
		seen[id] = true
		if old[id] {
			listedOld = append(listedOld, id)
		}
	}
	assertSameList(t, listedOld, want)
}

// FuzzListCursor feeds List cursors a client could send. A cursor is either
// rejected with ErrInvalidCursor or continues strictly after the place it
// names, with the tenant's jobs only.
func FuzzListCursor(f *testing.F) {
	r := testenv.StartRedis(f)
	rdb := r.Client(f)
	store := jobs.NewStore(rdb, jobs.Config{})
	ctx := f.Context()
	var ids []string
	for range 30 {
		id := newJobID()
		if _, _, err := store.Create(ctx, newJob(id, "acme"), nil); err != nil {
			f.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, _, err := store.Create(ctx, newJob(newJobID(), "globex"), nil); err != nil {
		f.Fatal(err)
	}
	// Half of them share a millisecond.
	score := rdb.ZScore(ctx, indexKey("acme"), ids[0]).Val()
	for _, id := range ids[:15] {
		rdb.ZAddXX(ctx, indexKey("acme"), redis.Z{Score: score, Member: id})
	}
	first, err := store.List(ctx, "acme", jobs.ListOptions{Limit: 4})
	if err != nil {
		f.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		"", first.Next, "!!", enc([]byte("1:")), enc([]byte("x:y")),
		enc([]byte(strconv.FormatInt(int64(score), 10) + ":" + ids[7])),
		enc([]byte(strconv.FormatInt(int64(score), 10) + ":job_")),
		enc([]byte("-9223372036854775808:job_ffffffffffffffffffffffffffffffff")),
		enc([]byte("9223372036854775807:a:b")),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, cursor string) {
		page, err := store.List(context.Background(), "acme", jobs.ListOptions{Cursor: cursor, Limit: 5})
		if errors.Is(err, jobs.ErrInvalidCursor) {
			return
		}
		if err != nil {
			t.Fatalf("List(cursor %q) = %v, want a page or ErrInvalidCursor", cursor, err)
		}
		after := ""
		var afterMS int64
		if raw, err := base64.RawURLEncoding.DecodeString(cursor); err == nil && cursor != "" {
			ms, id, _ := strings.Cut(string(raw), ":")
			afterMS, _ = strconv.ParseInt(ms, 10, 64)
			after = id
		}
		if len(page.Jobs) > 5 {
			t.Fatalf("%d jobs on a page of 5", len(page.Jobs))
		}
		for _, j := range page.Jobs {
			if j.Tenant != "acme" {
				t.Fatalf("cursor %q listed another tenant's job %+v", cursor, j)
			}
			ms := rdb.ZScore(context.Background(), indexKey("acme"), j.ID).Val()
			if after != "" && (int64(ms) > afterMS || (int64(ms) == afterMS && j.ID >= after)) {
				t.Fatalf("cursor %q (%d, %s) listed %s at %d, which is not after it", cursor, afterMS, after, j.ID, int64(ms))
			}
		}
	})
}
