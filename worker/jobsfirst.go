package worker

import (
	"context"
	"sync"
	"time"
)

// jobsFirst tells the webhook lane's poppers when jobs wait for this
// worker's slots, so that they give those jobs a head start: a delivery
// costs about as much CPU as a job (an HTTP request, its job's record
// read and decoded, its attempt recorded), so on a busy machine every
// delivery made during a burst of jobs slows the jobs. Held back for up
// to hookYield, a burst's deliveries go out as it ends; under a steady
// load they go on beside the jobs, that much later.
type jobsFirst struct {
	mu   sync.Mutex
	full int           // job poppers that are full
	none chan struct{} // closed while full is 0
}

func newJobsFirst() *jobsFirst {
	c := make(chan struct{})
	close(c)
	return &jobsFirst{none: c}
}

// jobPopper is one job popper's part in jobsFirst. It is full while its
// last pop took an entry for every slot it held (more may wait); a pop
// that then lasts longer than quietPop, a wait on an empty lane, clears
// it before it returns.
type jobPopper struct {
	j *jobsFirst
	// full and pops (counting the pops begun and ended) are guarded by
	// j.mu.
	full bool
	pops uint64
}

// quietPop is how long a pop may last before it is taken for a wait on an
// empty lane: one that finds entries returns within a round trip.
const quietPop = 50 * time.Millisecond

func (j *jobsFirst) popper() *jobPopper { return &jobPopper{j: j} }

// popping is called as a pop begins; the pop's end calls what it returns
// with whether it took an entry for every slot it held.
func (p *jobPopper) popping() (popped func(full bool)) {
	p.j.mu.Lock()
	p.pops++
	this, wasFull := p.pops, p.full
	p.j.mu.Unlock()
	var quiet *time.Timer
	if wasFull {
		quiet = time.AfterFunc(quietPop, func() { p.clearIf(this) })
	}
	return func(full bool) {
		if quiet != nil {
			quiet.Stop()
		}
		p.j.mu.Lock()
		defer p.j.mu.Unlock()
		p.pops++
		p.setLocked(full)
	}
}

// clearIf clears full while pop number this is under way.
func (p *jobPopper) clearIf(this uint64) {
	p.j.mu.Lock()
	defer p.j.mu.Unlock()
	if p.pops == this {
		p.setLocked(false)
	}
}

// done clears full for good: the popper stopped.
func (p *jobPopper) done() {
	p.j.mu.Lock()
	defer p.j.mu.Unlock()
	p.setLocked(false)
}

func (p *jobPopper) setLocked(full bool) {
	j := p.j
	if full == p.full {
		return
	}
	p.full = full
	if full {
		if j.full == 0 {
			j.none = make(chan struct{})
		}
		j.full++
		return
	}
	if j.full--; j.full == 0 {
		close(j.none)
	}
}

// clear reports whether no job popper is full.
func (j *jobsFirst) clear() bool {
	select {
	case <-j.cleared():
		return true
	default:
		return false
	}
}

func (j *jobsFirst) cleared() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.none
}

// wait returns once no job popper is full, or after at most patience, or
// when ctx ends; it reports whether none was full.
func (j *jobsFirst) wait(ctx context.Context, patience time.Duration) bool {
	if j.clear() {
		return true
	}
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case <-j.cleared():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
