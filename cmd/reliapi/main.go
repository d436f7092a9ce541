// Command reliapi runs ReliAPI: `reliapi api` serves HTTP, `reliapi worker`
// executes jobs, `reliapi dev` runs both in one process (with an embedded
// Redis when REDIS_URL is unset, and a demo upstream), and `reliapi version`
// prints the version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: reliapi <command> [flags]

commands:
  api       serve the HTTP API (needs REDIS_URL)
  worker    execute jobs (needs REDIS_URL)
  dev       api + worker + demo upstream in one process; embedded Redis when REDIS_URL is unset
  version   print the version
  healthcheck [URL]  exit 0 when URL (default http://127.0.0.1:8000/livez) answers 200; for
            container HEALTHCHECKs on images without curl
  webhook verify     check a webhook delivery's signature and timestamp (see -h)
  key new|hash       make a tenant API key, or print a key's SHA-256 for the config
  jobs get|list|cancel|retry, queues stats, targets, config check
                     operator commands on the configured Redis (see 'reliapi jobs')

Run 'reliapi <command> -h' for the command's flags.
`

// run is main without the process: testable, and it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "version" || cmd == "--version" {
		fmt.Fprintln(stdout, "reliapi", fullVersion())
		return 0
	}
	if cmd == "healthcheck" {
		return healthcheck(args, stderr)
	}
	if cmd == "webhook" {
		return webhookCommand(args, getenv, stdin, stdout, stderr)
	}
	if cmd == "key" {
		return keyCommand(args, stdin, stdout, stderr)
	}
	switch cmd {
	case "jobs", "queues", "targets", "config":
		return opsCommand(ctx, cmd, args, getenv, stdout, stderr)
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	fs := flag.NewFlagSet("reliapi "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.configPath, "config", "", "config file (default $RELIAPI_CONFIG, else config.yaml)")
	switch cmd {
	case "api", "dev":
		fs.StringVar(&o.listen, "listen", "", "API listen address (default server.listen, \":8000\")")
	}
	switch cmd {
	case "worker": // dev serves them on the API
		fs.StringVar(&o.metricsListen, "metrics-listen", "", "worker metrics and health address (default worker.metrics_listen, \":9091\")")
	}
	if cmd == "dev" {
		fs.StringVar(&o.demoListen, "demo-listen", "127.0.0.1:8001", "demo upstream (target httpbin) listen address; empty disables it")
	}
	if cmd != "api" && cmd != "worker" && cmd != "dev" {
		fmt.Fprintf(stderr, "reliapi: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.configPath == "" {
		o.configPath = getenv("RELIAPI_CONFIG")
	}
	if o.configPath == "" {
		o.configPath = "config.yaml"
	}
	o.redisURL = getenv("REDIS_URL")
	o.apiKey = getenv("RELIAPI_API_KEY")

	log := newLogger(stdout, getenv("LOG_LEVEL"))
	var err error
	switch cmd {
	case "api":
		err = runAPI(ctx, o, log)
	case "worker":
		err = runWorker(ctx, o, log)
	case "dev":
		err = runDev(ctx, o, log)
	}
	if err != nil {
		log.Error("reliapi stopped with an error", "error", err)
		fmt.Fprintln(stderr, "reliapi:", err)
		return 1
	}
	return 0
}

// options are the command-line and environment settings.
type options struct {
	configPath    string
	listen        string
	metricsListen string
	demoListen    string
	redisURL      string
	// apiKey is RELIAPI_API_KEY: one more key of the tenant "default".
	apiKey string
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// healthcheck probes a liveness URL once.
func healthcheck(args []string, stderr io.Writer) int {
	url := "http://127.0.0.1:8000/livez"
	if len(args) > 0 {
		url = args[0]
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck:", url, "answered", resp.Status)
		return 1
	}
	return 0
}

func fullVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		v += " (" + info.GoVersion + ")"
	}
	return v
}
