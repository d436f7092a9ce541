// Command reliapi runs ReliAPI: `reliapi api` serves HTTP, `reliapi worker`
// executes jobs, `reliapi dev` runs both in one process (with an embedded
// Redis when REDIS_URL is unset, and a demo upstream), and `reliapi version`
// prints the version.
package main

import (
	"cmp"
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
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, "reliapi", fullVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "healthcheck":
		return healthcheck(args, stderr)
	case "webhook":
		return webhookCommand(args, getenv, stdin, stdout, stderr)
	case "key":
		return keyCommand(args, stdin, stdout, stderr)
	case "jobs", "queues", "targets", "config":
		return opsCommand(ctx, cmd, args, getenv, stdout, stderr)
	case "api", "worker", "dev":
		return serve(ctx, cmd, args, getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "reliapi: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// serve runs a service role (api, worker or dev) until ctx ends.
func serve(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reliapi "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.configPath, "config", "", configFlagHelp)
	if cmd == "api" || cmd == "dev" {
		fs.StringVar(&o.listen, "listen", "", "API listen address (default server.listen, \":8000\")")
	}
	if cmd == "worker" { // dev serves them on the API
		fs.StringVar(&o.metricsListen, "metrics-listen", "", "worker metrics and health address (default worker.metrics_listen, else 127.0.0.1:9091, or a free loopback port when that is taken)")
	}
	if cmd == "dev" {
		fs.StringVar(&o.demoListen, "demo-listen", "127.0.0.1:8001", "demo upstream (target httpbin) listen address; empty disables it")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.configPath = configPath(o.configPath, getenv)
	o.redisURL = getenv("REDIS_URL")
	o.apiKey = getenv("RELIAPI_API_KEY")

	keepHeapFloor(getenv)
	log := newLogger(stdout, getenv("LOG_LEVEL"))
	roles := map[string]func(context.Context, options, *slog.Logger) error{"api": runAPI, "worker": runWorker, "dev": runDev}
	if err := roles[cmd](ctx, o, log); err != nil {
		log.Error("reliapi stopped with an error", "error", err)
		fmt.Fprintln(stderr, "reliapi:", err)
		return 1
	}
	return 0
}

// configFlagHelp describes --config, whose default configPath chooses.
const configFlagHelp = "config file (default $RELIAPI_CONFIG_PATH, else $RELIAPI_CONFIG, else config.yaml)"

// configPath is the config file to load: the --config flag, else
// RELIAPI_CONFIG_PATH (the seed's name, which it read first), else
// RELIAPI_CONFIG, else config.yaml. An empty flag or variable counts as
// unset, so `RELIAPI_CONFIG_PATH=` in a compose file falls through.
func configPath(flagValue string, getenv func(string) string) string {
	return cmp.Or(flagValue, getenv("RELIAPI_CONFIG_PATH"), getenv("RELIAPI_CONFIG"), "config.yaml")
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
