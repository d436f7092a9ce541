package jobs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// TestGoneURLs: answers are kept in memory once the subscription is
// confirmed (a change written behind its back is not seen), a change
// announced by MarkGone or Replay is seen at once, and a subscription made
// again (Redis dropped the connection) forgets what was kept.
func TestGoneURLs(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{Retention: time.Hour})
	ctx := t.Context()
	g := jobs.NewGoneURLs(b.store, nil)
	g.Start(ctx)
	t.Cleanup(g.Stop)
	const url = "https://hooks.example.com/a"
	goneKey := "reliapi:tenant:{acme}:webhooks:gone"
	digest := reliapi.WebhookURLDigest(url)
	goneURL := func(url string) bool {
		t.Helper()
		v, err := g.Gone(ctx, "acme", url)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	gone := func() bool { t.Helper(); return goneURL(url) }

	// Kept: once the subscription is confirmed, an answer read is kept, so
	// a mark written without its announcement goes unseen. Each try asks
	// about a URL of its own: when the subscription is confirmed between a
	// try's two reads, the second read's "gone" is kept, and a try reusing
	// that URL would see it for goneTTL.
	try := 0
	testenv.Eventually(t, waitBound, "answers kept in memory", func() bool {
		try++
		probe := fmt.Sprintf("https://hooks.example.com/probe-%d", try)
		if goneURL(probe) {
			t.Fatalf("%s is gone before it was marked", probe)
		}
		b.rdb.SAdd(ctx, goneKey, reliapi.WebhookURLDigest(probe))
		return !goneURL(probe)
	})

	// Announced: MarkGone's announcement drops the kept answer.
	if gone() {
		t.Fatal("gone before it was marked")
	}
	if err := b.store.MarkGone(ctx, "acme", url); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitBound, "the 410 seen", gone)
	if v, _ := g.Gone(ctx, "other-tenant", url); v {
		t.Fatal("another tenant's URL is gone too")
	}

	// Replay's announcement likewise.
	id := b.createWebhookJob(t, "acme", url)
	if _, err := b.store.Replay(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitBound, "the replay seen", func() bool { return !gone() })

	// Resubscribed: killing the subscription's connection loses what was
	// announced meanwhile; the new subscription forgets every answer.
	b.rdb.SAdd(ctx, goneKey, digest) // unannounced: the kept "not gone" stands
	if gone() {
		t.Fatal("an unannounced mark was read while the answer was kept")
	}
	if err := b.rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitBound, "answers forgotten after the subscription was made again", gone)
}

// createWebhookJob creates a job of tenant with a webhook to url, ended,
// its webhook gone: one Replay may act on.
func (b *bundle) createWebhookJob(t *testing.T, tenant, url string) string {
	t.Helper()
	n := newJob(newJobID(), tenant)
	n.Webhook = &reliapi.Subscription{URL: url}
	if _, created, err := b.store.Create(t.Context(), n, nil); err != nil || !created {
		t.Fatalf("Create = created %v, %v", created, err)
	}
	b.start(t, n.ID, taskA)
	b.finish(t, n.ID, reliapi.JobSucceeded, &reliapi.Result{})
	if err := b.store.SetWebhookStatus(t.Context(), n.ID, reliapi.WebhookGone, nil); err != nil {
		t.Fatal(err)
	}
	return n.ID
}
