package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/config"
)

// listenMetrics opens the worker's side server: the --metrics-listen flag,
// else worker.metrics_listen, else config.DefaultMetricsListen. Only the
// default may move: when another worker on this host holds it, this one
// takes a free loopback port and says which, so that `reliapi worker` can
// run several times on one machine with no setting. An address someone set
// is what they scrape, so failing to bind it stops the worker.
func listenMetrics(flagValue, configValue string, log *slog.Logger) (net.Listener, error) {
	if addr := listenAddr(flagValue, configValue); addr != "" {
		l, err := listen(addr)
		if err != nil {
			return nil, fmt.Errorf("%w (the address set by --metrics-listen or worker.metrics_listen; "+
				"choose a free one, or set neither to let a worker move off a taken default)", err)
		}
		return l, nil
	}
	l, err := listen(config.DefaultMetricsListen)
	if !errors.Is(err, syscall.EADDRINUSE) {
		return l, err
	}
	l, err = listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	log.Warn("the default metrics address is taken (another worker on this host?): serving metrics and health on a free port",
		"default_addr", config.DefaultMetricsListen, "metrics_addr", l.Addr().String())
	return l, nil
}

// workerSideHandler serves a worker's /metrics, /livez and /readyz.
func workerSideHandler(rdb redis.UniversalClient, reg *prometheus.Registry, auth config.ClientAuth) http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		// As on the api: the admin key, when one is configured.
		key := r.Header.Get("X-API-Key")
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); key == "" && ok && strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(token)
		}
		if auth.HasAdminKey() && !auth.IsAdminKey(key) {
			http.Error(w, "this endpoint needs the admin key (X-API-Key or Authorization: Bearer)", http.StatusUnauthorized)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"alive"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := rdb.Ping(ctx).Err(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"not ready","checks":{"redis":"unreachable"}}`))
			return
		}
		w.Write([]byte(`{"status":"ready","checks":{"redis":"ok"}}`))
	})
	return mux
}
