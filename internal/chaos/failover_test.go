package chaos_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/testenv"
)

// masterName is the name the failover scenario's sentinels know the master by.
const masterName = "chaos-master"

// TestSentinelFailover: a master with one replica, watched by 3 Sentinels
// (quorum 2), serves an api and two workers that find it through the
// Sentinels (redis.mode: sentinel). The master is SIGKILLed while clients
// submit jobs; the Sentinels promote the replica, and the api and the
// workers follow it without restarting. Every job accepted (202) before
// the last write the replica acknowledged ahead of the kill (a WAIT on a
// marker: replication is one ordered stream) ends; a job accepted after
// that and before the promotion, in the replication window, may be lost
// and is counted apart; every job accepted after the promotion completes,
// and both workers run some of them.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	// A replica's first sync starts at once (not after the 5 s a diskless
	// sync waits for more replicas by default).
	master := testenv.StartRedisWith(t, "--repl-diskless-sync-delay", "0")
	host, port, _ := strings.Cut(master.Addr, ":")
	replica := testenv.StartRedisWith(t, "--replicaof", host, port)
	newMaster := replica.Client(t)
	testenv.Eventually(t, 30*time.Second, "the replica to sync with the master", func() bool {
		info, err := newMaster.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sentinels := testenv.StartSentinels(t, master, masterName, 3, 2)
	waitSentinels(t, sentinels, 2, 1)
	// Each worker tags its upstream calls (X-Worker, from its own
	// environment): both must run jobs after the failover.
	f := newFleet(t, spec{up: testenv.Section{"cache": "{enabled: false}", "auth": "{type: api_key, env_var: CHAOS_WORKER, header: X-Worker}"},
		redis: testenv.Section{"mode": "sentinel", "addrs": fmt.Sprintf("[%s]", quoted(sentinels)), "master_name": masterName}})
	calls := &callLog{byKey: map[string][]arrival{}}
	calls.delay.Store(int64(20 * time.Millisecond)) // jobs are in flight when the master dies
	f.up.Handle("/work", calls.serve)
	for _, tag := range []string{"a", "b"} {
		f.workers = append(f.workers, f.startWorker("", "CHAOS_WORKER="+tag))
	}
	client := f.client(10 * time.Second)

	load := startAsyncLoad(client, "fo")
	testenv.Eventually(t, time.Minute, "jobs accepted before the kill", func() bool { return load.since(time.Time{}) >= sized(100, 1000) })

	// Every job accepted before acked has its writes on the replica: they
	// came before the marker in the master's one replication stream, and
	// WAIT returns once the replica has the marker.
	acked := replicaAcks(t, master)
	killed := time.Now()
	master.Stop()
	var promoted time.Time
	testenv.Eventually(t, 30*time.Second, "the sentinels to promote the replica", func() bool {
		if masterOf(sentinels[0]) == replica.Addr {
			promoted = time.Now()
			return true
		}
		return false
	})
	testenv.Eventually(t, 30*time.Second, "the api to accept jobs again", func() bool { return load.since(killed) > 0 })
	// Load goes on until both workers have run a job on the new master: in
	// the short form a handful of jobs can all go to the worker that found
	// the new master first.
	testenv.Eventually(t, time.Minute, "jobs accepted after the failover, and run by both workers", func() bool {
		return load.since(promoted) >= sized(100, 1000) && calls.arrived("a", promoted) > 0 && calls.arrived("b", promoted) > 0
	})
	accepted, refused, unclear := load.end()

	// A job accepted after the replica's last acknowledgement and before
	// the promotion may have been written to the old master alone: the
	// replication window, whose losses are allowed. Its jobs are read
	// last, and in the short form they have little time: a job the window
	// left half-written (its record without its task) waits for
	// jobs.timeout.
	r := row{scenario: "Redis master SIGKILLed, Sentinel failover to its replica", accepted: len(accepted), clearErrors: refused}
	inWindow := func(a acceptance) bool { return a.at.After(acked) && a.at.Before(promoted) }
	var window, lostInWindow, lostOutside int
	var reaccepted time.Duration // from the kill to the first 202 after the promotion
	var why []string
	account := func(a acceptance, bound time.Duration) {
		st, _ := jobStatus(client, a.id, bound)
		if !r.tally(st) {
			return
		}
		if inWindow(a) {
			lostInWindow++
		} else {
			lostOutside++
		}
		if len(why) < 10 {
			why = append(why, fmt.Sprintf("%s accepted at kill%+.3fs (in the window: %t), upstream answered it %d times: %s, %s",
				a.id, a.at.Sub(killed).Seconds(), inWindow(a), f.up.Succeeded(a.key), st, whereIs(newMaster, a.id)))
		}
	}
	deadline := time.Now().Add(orphanBound)
	for _, a := range accepted {
		if a.at.After(promoted) && reaccepted == 0 {
			reaccepted = a.at.Sub(killed)
		}
		if inWindow(a) {
			window++
			continue
		}
		account(a, time.Until(deadline))
	}
	windowBound := time.Duration(sized(20, int(orphanBound/time.Second))) * time.Second
	deadline = time.Now().Add(windowBound)
	for _, a := range accepted {
		if inWindow(a) {
			account(a, time.Until(deadline))
		}
	}
	r.lost += len(unclear)
	r.dups = f.up.Duplicates()
	r.notes = fmt.Sprintf("lost (or unfinished %v later) in the replication window (accepted from the replica's last acknowledgement, %v before the kill, to the promotion): %d of the %d accepted there (allowed); "+
		"lost outside it: %d; replica promoted %v after the kill, first job accepted %v after the kill; %d submits refused (503 REDIS_UNAVAILABLE) meanwhile",
		windowBound, killed.Sub(acked).Round(time.Millisecond), lostInWindow, window, lostOutside,
		promoted.Sub(killed).Round(100*time.Millisecond), reaccepted.Round(100*time.Millisecond), refused)
	r.notes += fmt.Sprintf("; upstream calls after the promotion from each worker: %d, %d", calls.arrived("a", promoted), calls.arrived("b", promoted))
	if len(unclear) > 0 {
		r.notes += fmt.Sprintf("; unclear answers: %v", unclear[:min(3, len(unclear))])
	}
	if len(why) > 0 {
		r.notes += "; lost (the first 10): " + strings.Join(why, "; ")
	}
	record(r)
	if lostOutside > 0 || len(unclear) > 0 {
		t.Errorf("%+v", r)
	}
	// They followed the new master without restarting: the api accepts
	// jobs, both workers run them.
	for _, p := range append([]*testenv.Process{f.api}, f.workers...) {
		if err := p.Exited(); err != nil {
			t.Errorf("%v during the failover", err)
		}
	}
	for _, tag := range []string{"a", "b"} {
		if calls.arrived(tag, promoted) == 0 {
			t.Errorf("worker %s ran no job after the failover", tag)
		}
	}
}

// quoted is addrs as YAML flow items.
func quoted(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, ", ")
}

// waitSentinels waits until every sentinel knows the others and the
// replicas: a failover needs them.
func waitSentinels(t *testing.T, sentinels []string, others, replicas int) {
	t.Helper()
	for _, addr := range sentinels {
		s := redis.NewSentinelClient(&redis.Options{Addr: addr})
		testenv.Eventually(t, 30*time.Second, "sentinel "+addr+" to know the other sentinels and the replica", func() bool {
			m, err := s.Master(context.Background(), masterName).Result()
			return err == nil && m["num-other-sentinels"] == strconv.Itoa(others) && m["num-slaves"] == strconv.Itoa(replicas)
		})
		s.Close()
	}
}

// masterOf is the master the sentinel at addr names, "" when it does not
// answer.
func masterOf(addr string) string {
	s := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer s.Close()
	a, err := s.GetMasterAddrByName(context.Background(), masterName).Result()
	if err != nil || len(a) != 2 {
		return ""
	}
	return a[0] + ":" + a[1]
}

// replicaAcks writes a marker on master and waits until its replica has
// it, and returns when the write began: every write the master made before
// then is on the replica.
func replicaAcks(t *testing.T, master *testenv.Redis) time.Time {
	t.Helper()
	rdb := master.Client(t)
	ctx := context.Background()
	at := time.Now()
	if err := rdb.Set(ctx, "chaos:marker", at.UnixNano(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d replicas, %v", n, err)
	}
	return at
}
