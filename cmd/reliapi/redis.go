package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/luascript"
)

// newRedis connects to the Redis at url. The timeouts are short on purpose:
// when Redis is unreachable the api must answer 503 within two seconds
// rather than hang, and go-redis reconnects by itself when Redis returns.
func newRedis(url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout = redisDialTimeout
	opt.DialerRetries = 1
	opt.ReadTimeout = redisIOTimeout
	opt.WriteTimeout = redisIOTimeout
	opt.PoolTimeout = redisIOTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1
	opt.PoolSize = redisPoolSize
	return redis.NewClient(opt), nil
}

// The client settings every mode shares.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 2 * time.Second
	redisPoolSize    = 128
)

// newRedisTopology connects to a Sentinel-managed master or a Redis
// Cluster (redis.mode), with the same timeouts as newRedis. asynq and our
// scripts run on either: every script's keys share one hash tag, but for
// the lane push's start, which lifecycle makes only off a Cluster.
func newRedisTopology(r config.Redis) redis.UniversalClient {
	opt := &redis.UniversalOptions{
		Addrs:                 r.Addrs,
		MasterName:            r.MasterName,
		Username:              r.Username,
		Password:              r.Password.Value(),
		SentinelPassword:      r.SentinelPassword.Value(),
		DB:                    r.DB,
		IsClusterMode:         r.Mode == config.RedisCluster,
		DialTimeout:           redisDialTimeout,
		ReadTimeout:           redisIOTimeout,
		WriteTimeout:          redisIOTimeout,
		PoolTimeout:           redisIOTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		PoolSize:              redisPoolSize,
	}
	if r.TLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(opt)
}

// embeddedRedis is miniredis for `reliapi dev` without REDIS_URL.
type embeddedRedis struct {
	m    *miniredis.Miniredis
	stop chan struct{}
	done chan struct{}
}

// startEmbeddedRedis starts miniredis on a free loopback port. miniredis
// never advances its own clock, so a ticker fast-forwards it by the real
// time elapsed; otherwise TTLs (asynq's locks and leases, job retention)
// would never expire.
func startEmbeddedRedis(log *slog.Logger) (*embeddedRedis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("starting embedded Redis: %w", err)
	}
	e := &embeddedRedis{m: m, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		const tick = 250 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-e.stop:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return e, nil
}

func (e *embeddedRedis) url() string { return "redis://" + e.m.Addr() + "/0" }

func (e *embeddedRedis) close() {
	close(e.stop)
	<-e.done
	e.m.Close()
}

// prepareRedis checks Redis once at start, so a wrong REDIS_URL is
// reported clearly instead of as a stream of connection errors, and loads
// the service's scripts (luascript.Load says why).
func prepareRedis(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis does not answer: %w", err)
	}
	return luascript.Load(ctx, rdb)
}
