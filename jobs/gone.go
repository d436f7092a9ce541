package jobs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/reliapi/reliapi"
)

// GoneURLs answers Store.Gone from memory for the api's submits, so that a
// submit with a webhook costs no round trip of its own: each answer read
// from Redis is kept until a change to it is announced on goneChannel
// (MarkGone and Replay publish the tenant and the URL's digest in the
// round trip that changes the set), until the subscription is made again
// (announcements may have been lost while it was down), or for goneTTL at
// most. Until its subscription is confirmed it reads Redis every time.
//
// A URL marked gone is refused by every replica once the announcement
// reaches it, moments after the 410; a submit that read the set before
// that is accepted, and its delivery, which reads the set again, ends gone
// without sending.
type GoneURLs struct {
	store *Store
	log   *slog.Logger

	mu    sync.Mutex
	known map[goneKey]goneAnswer
	// gen counts invalidations: an answer read from Redis is kept only if
	// none happened while it was read, so a stale answer is never stored
	// after the announcement that would have removed it.
	gen    uint64
	listen bool // the subscription is confirmed: answers may be kept

	cancel context.CancelFunc
	done   <-chan struct{}
}

type goneKey struct{ tenant, digest string }

type goneAnswer struct {
	gone  bool
	until time.Time
}

// goneTTL bounds how long an answer is kept without an announcement, and
// goneMax how many are kept (all are dropped when it is reached: a tenant
// has few webhook URLs, and a miss costs one read).
const (
	goneTTL = time.Minute
	goneMax = 10_000
)

// NewGoneURLs returns a GoneURLs reading store. A nil logger means
// slog.Default().
func NewGoneURLs(store *Store, logger *slog.Logger) *GoneURLs {
	if logger == nil {
		logger = slog.Default()
	}
	return &GoneURLs{store: store, log: logger, known: make(map[goneKey]goneAnswer)}
}

// Start subscribes to the announcements of changes. It returns at once; the
// subscription reconnects by itself when Redis comes back.
func (g *GoneURLs) Start(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	g.done = listen(ctx, g.store.rdb, g.changed, g.subscribed, goneChannel)
}

// Stop ends the subscription; answers are read from Redis from then on. It
// is safe to call more than once, and without Start.
func (g *GoneURLs) Stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forget(false)
}

// subscribed forgets every answer kept when the subscription is made
// (again: announcements may have been missed while it was down); answers
// may be kept from then on.
func (g *GoneURLs) subscribed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forget(true)
}

// changed forgets the answer for the URL an announcement names.
func (g *GoneURLs) changed(payload string) {
	i := strings.LastIndexByte(payload, '\n')
	if i < 0 {
		g.log.Warn("ignoring a malformed announcement of a gone webhook URL")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.known, goneKey{payload[:i], payload[i+1:]})
	g.gen++
}

// forget drops every answer kept; listen says whether answers may be kept
// from now on. The caller holds mu.
func (g *GoneURLs) forget(listen bool) {
	clear(g.known)
	g.gen++
	g.listen = listen
}

// Gone is Store.Gone, from memory when the answer is known.
func (g *GoneURLs) Gone(ctx context.Context, tenant, url string) (bool, error) {
	k := goneKey{tenant, reliapi.WebhookURLDigest(url)}
	now := time.Now()
	g.mu.Lock()
	a, ok := g.known[k]
	gen, keep := g.gen, g.listen
	g.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.gone, nil
	}
	gone, err := g.store.goneDigest(ctx, tenant, k.digest)
	if err != nil || !keep {
		return gone, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gen == gen && g.listen {
		if len(g.known) >= goneMax {
			clear(g.known)
		}
		g.known[k] = goneAnswer{gone: gone, until: now.Add(goneTTL)}
	}
	return gone, nil
}
