package chaos_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpProxy forwards connections to a Redis and injects network faults
// between them: an outage (every connection cut, new ones refused, the
// data intact), added latency on every byte each way, and a blackhole
// (bytes held, connections left open, as a partition does).
type tcpProxy struct {
	addr    string
	target  string
	down    atomic.Bool
	latency atomic.Int64 // time.Duration added to each chunk, each way

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	hole  chan struct{} // non-nil while blackholed; closed when healed
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.heal(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *tcpProxy) serve(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go p.pipe(u, c)
	p.pipe(c, u)
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// chunk is what one read from a connection got, and when it may go on.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst until either fails, then closes both. Each chunk
// goes on after the latency set when it was read (a delay line: chunks
// read meanwhile are not delayed further) and only while no blackhole is
// in place; so does the close, as a FIN is held in a partition too.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	line := make(chan chunk, 256)
	go func() {
		defer close(line)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				line <- chunk{buf[:n], time.Now().Add(time.Duration(p.latency.Load()))}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range line {
		if wait := time.Until(c.due); wait > 0 {
			<-time.After(wait) // the injected latency itself, not a wait for something
		}
		p.passable()
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	p.passable()
	dst.Close()
	src.Close()
	for range line { // let the reader end
	}
}

// passable returns once no blackhole is in place.
func (p *tcpProxy) passable() {
	p.mu.Lock()
	h := p.hole
	p.mu.Unlock()
	if h != nil {
		<-h
	}
}

// blackhole holds every byte from now on, both ways, on every connection
// (new ones are accepted and held too), until heal.
func (p *tcpProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hole == nil {
		p.hole = make(chan struct{})
	}
}

// heal lets the held bytes go on, in order, and ends the blackhole.
func (p *tcpProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hole != nil {
		close(p.hole)
		p.hole = nil
	}
}

// slow adds d to every chunk each way from now on; 0 removes it.
func (p *tcpProxy) slow(d time.Duration) { p.latency.Store(int64(d)) }

// cut closes every connection; with down set, new ones are refused too.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// outage makes Redis unreachable for d.
func (p *tcpProxy) outage(ctx context.Context, d time.Duration) {
	p.down.Store(true)
	p.cut()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	p.down.Store(false)
}
