package lane

import "time"

// SetWaited sets when p's last wait ended with nothing (see freshWait), as
// if its worker had waited that long for a slot since.
func SetWaited(p *Popper, at time.Time) { p.waited = at }

// SetEmptied sets when p last saw the hand-off lists empty.
func SetEmptied(p *Popper, at time.Time) { p.emptied = at }
