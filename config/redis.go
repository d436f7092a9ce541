package config

import (
	"fmt"
	"net"
	"net/url"
)

// Redis locates the shared Redis.
type Redis struct {
	// Mode is "single" (one server, or a managed endpoint, at URL),
	// "sentinel" (a master found through the sentinels at Addrs) or
	// "cluster" (a Redis Cluster reached through the seed nodes at Addrs).
	// Default "single".
	Mode string `yaml:"mode"`
	// URL is single mode's redis://, rediss:// or unix:// URL. Default "":
	// the cmd layer fills it from REDIS_URL (and dev mode may start an
	// embedded Redis). Write "${REDIS_URL}" to take it from the
	// environment here.
	URL string `yaml:"url"`
	// Addrs are the sentinels (sentinel mode) or some cluster nodes
	// (cluster mode), "host:port".
	Addrs []string `yaml:"addrs,omitempty"`
	// MasterName is the master the sentinels watch (sentinel mode).
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate to Redis (sentinel and cluster
	// modes; in single mode they belong in the URL). Password comes from
	// the environment.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// SentinelPassword authenticates to the sentinels, when they ask.
	SentinelPassword Secret `yaml:"sentinel_password"`
	// TLS connects with TLS (sentinel and cluster modes; single mode uses
	// a rediss:// URL).
	TLS bool `yaml:"tls"`
	// DB is the database (sentinel mode; a cluster has only 0).
	DB int `yaml:"db"`
	// QueueShards splits each queue (sync, async, webhooks) into this many
	// asynq queues, 1 to 64, so that on a Redis Cluster their traffic
	// spreads over as many slots. Every api and worker must use the same
	// value; lower it only with the queues drained. Default 1.
	QueueShards int `yaml:"queue_shards"`
}

// Redis modes.
const (
	RedisSingle   = "single"
	RedisSentinel = "sentinel"
	RedisCluster  = "cluster"
)

// setDefaults fills every zero field of r with its default.
func (r *Redis) setDefaults() {
	setDefault(&r.Mode, RedisSingle)
	setDefault(&r.QueueShards, 1)
}

// redis checks the redis section for its mode.
func (v *validator) redis(r Redis) {
	v.oneOf("redis.mode", r.Mode, RedisSingle, RedisSentinel, RedisCluster)
	v.redisURL("redis.url", r.URL)
	v.present("redis.password", r.Password)
	v.present("redis.sentinel_password", r.SentinelPassword)
	switch r.Mode {
	case RedisSingle:
		v.check("redis.addrs", len(r.Addrs) == 0, "is for sentinel and cluster modes; single mode uses redis.url (or REDIS_URL)")
	case RedisSentinel, RedisCluster:
		v.check("redis.addrs", len(r.Addrs) > 0, "%s mode needs the addresses of its %s", r.Mode, map[string]string{RedisSentinel: "sentinels", RedisCluster: "nodes"}[r.Mode])
		for i, a := range r.Addrs {
			_, port, err := net.SplitHostPort(a)
			v.check(fmt.Sprintf("redis.addrs[%d]", i), err == nil && port != "", "must be host:port (got %q)", a)
		}
		v.check("redis.url", r.URL == "", "is for single mode; %s mode uses redis.addrs", r.Mode)
	}
	v.check("redis.master_name", (r.Mode == RedisSentinel) == (r.MasterName != ""), "is required in sentinel mode, and only there")
	v.check("redis.queue_shards", r.QueueShards >= 1 && r.QueueShards <= 64, "must be 1 to 64 (got %d)", r.QueueShards)
	v.check("redis.db", r.DB >= 0 && (r.DB == 0 || r.Mode != RedisCluster), "must be 0 or more, and 0 in cluster mode (got %d)", r.DB)
}

// redisURL checks a Redis URL without repeating it: it may hold a password.
func (v *validator) redisURL(path, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.add(path, "is not a valid URL")
	case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix":
		v.add(path, "must be a redis://, rediss:// or unix:// URL")
	case u.Scheme == "unix" && u.Path == "":
		v.add(path, "a unix:// URL needs a socket path, such as unix:///run/redis.sock")
	}
}
