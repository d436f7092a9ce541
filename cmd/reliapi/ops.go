package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reliapi/reliapi/api"
	"github.com/reliapi/reliapi/config"
)

const opsUsage = `usage:
  reliapi jobs get ID      [--tenant T] [--json]   a job
  reliapi jobs list        [--tenant T] [--status S] [--limit N] [--json]
  reliapi jobs cancel ID   [--tenant T] [--json]   cancel (idempotent)
  reliapi jobs retry ID    [--json]                run a waiting job's task now
  reliapi queues stats     [--json]                every queue's sizes; every tenant's jobs ready and running
  reliapi targets          [--json]                breakers and key pools
  reliapi config check FILE                        load and validate a config

Each uses the Redis of --config (or $RELIAPI_CONFIG_PATH, $RELIAPI_CONFIG) and REDIS_URL, as the
api and workers do; the tenant defaults to "default".
`

// opsCommand runs an operator command. It serves the request in process,
// through the api's own handlers, as the admin acting for the tenant: the
// same rules and answers as the HTTP API, with no server to reach.
func opsCommand(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if cmd == "config" {
		return configCheck(args, stdout, stderr)
	}
	sub := ""
	if cmd == "jobs" || cmd == "queues" {
		if len(args) == 0 {
			fmt.Fprint(stderr, opsUsage)
			return 2
		}
		sub, args = args[0], args[1:]
	}
	f, code := parseOpsFlags(cmd, args, stderr)
	if f == nil {
		return code
	}
	method, path, render, problem := opsRequest(cmd, sub, f)
	if problem != "" {
		fmt.Fprint(stderr, problem)
		return 2
	}
	status, body, err := callInProcess(ctx, opsOptions(f.configPath, getenv), f.tenant, method, path)
	if err != nil {
		fmt.Fprintln(stderr, "reliapi:", err)
		return 1
	}
	return printAnswer(status, body, f.asJSON, render, stdout, stderr)
}

// opsFlags are an operator command's flags and its positional arguments.
type opsFlags struct {
	configPath, tenant, status string
	limit                      int
	asJSON                     bool
	positional                 []string
}

// parseOpsFlags reads an operator command's flags, which may follow the
// job ID. It returns nil and the exit code when the command must end.
func parseOpsFlags(cmd string, args []string, stderr io.Writer) (*opsFlags, int) {
	fs := flag.NewFlagSet("reliapi "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, opsUsage) }
	f := &opsFlags{}
	fs.StringVar(&f.configPath, "config", "", configFlagHelp)
	fs.StringVar(&f.tenant, "tenant", "default", "the tenant whose jobs these are")
	fs.StringVar(&f.status, "status", "", "jobs list: only jobs in this status")
	fs.IntVar(&f.limit, "limit", 20, "jobs list: how many")
	fs.BoolVar(&f.asJSON, "json", false, "print the API's JSON answer")
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		if fs.NArg() == 0 {
			return f, 0
		}
		f.positional = append(f.positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// opsRequest is the API request an operator command makes, and how its
// answer is printed; problem, when set, is what is wrong with the command.
func opsRequest(cmd, sub string, f *opsFlags) (method, path string, render func([]byte, io.Writer), problem string) {
	id := ""
	if cmd == "jobs" && (sub == "get" || sub == "cancel" || sub == "retry") {
		if len(f.positional) != 1 {
			return "", "", nil, fmt.Sprintf("reliapi %s %s: give one job ID\n", cmd, sub)
		}
		id = url.PathEscape(f.positional[0])
	}
	switch cmd + " " + sub {
	case "jobs get":
		return "GET", "/v1/jobs/" + id, printJob, ""
	case "jobs cancel":
		return "POST", "/v1/jobs/" + id + "/cancel", printJob, ""
	case "jobs retry":
		return "POST", "/v1/admin/jobs/" + id + "/run", printJob, ""
	case "jobs list":
		q := url.Values{"limit": {fmt.Sprint(f.limit)}}
		if f.status != "" {
			q.Set("status", f.status)
		}
		return "GET", "/v1/jobs?" + q.Encode(), printJobs, ""
	case "queues stats":
		return "GET", "/v1/admin/queues", printQueues, ""
	case "targets ":
		return "GET", "/v1/targets", printTargets, ""
	}
	return "", "", nil, fmt.Sprintf("reliapi: unknown command %q\n\n%s", strings.TrimSpace(cmd+" "+sub), opsUsage)
}

// printAnswer prints the API's answer: the error's code and message (or
// its JSON), or the result as render prints it (or its JSON, indented).
func printAnswer(status int, body []byte, asJSON bool, render func([]byte, io.Writer), stdout, stderr io.Writer) int {
	if status >= 400 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		json.Unmarshal(body, &e)
		if asJSON {
			stdout.Write(append(body, '\n'))
		} else {
			fmt.Fprintf(stderr, "reliapi: %s: %s\n", e.Error.Code, e.Error.Message)
		}
		return 1
	}
	if asJSON {
		var out bytes.Buffer
		json.Indent(&out, body, "", "  ")
		fmt.Fprintln(stdout, out.String())
		return 0
	}
	render(body, stdout)
	return 0
}

func opsOptions(flagValue string, getenv func(string) string) options {
	return options{configPath: configPath(flagValue, getenv), redisURL: getenv("REDIS_URL"), apiKey: getenv("RELIAPI_API_KEY")}
}

// callInProcess builds the api on the configured Redis, with an admin key
// only this process knows, and serves one request as the admin acting for
// tenant.
func callInProcess(ctx context.Context, o options, tenant, method, path string) (int, []byte, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := setup(ctx, o, quiet)
	if err != nil {
		return 0, nil, err
	}
	defer c.rdb.Close()
	key := rand.Text()
	c.settings.Auth.AdminKey = config.SecretFrom("in-process", key)
	c.settings.Auth.AdminKeySHA256 = ""
	srv, err := api.New(api.Config{Redis: c.rdb, Settings: c.settings.ForAPI(), Logger: quiet, Registry: c.reg, Version: version})
	if err != nil {
		return 0, nil, err
	}
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, nil)
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Tenant", tenant)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), nil
}

// configCheck loads a config file and says what is wrong with it, or what
// it holds.
func configCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: reliapi config check FILE\n")
		return 2
	}
	c, err := config.Load(args[1])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	mode := c.Auth.Mode
	if mode == config.AuthKeys && !c.HasAPIKeys() {
		mode += " (no key configured: `reliapi api` needs RELIAPI_API_KEY or tenants)"
	}
	fmt.Fprintf(stdout, "%s: ok — %d targets, %d tenants, %d key pools, auth %s\n",
		args[1], len(c.Targets), len(c.Tenants), len(c.ProviderKeyPools), mode)
	return 0
}

func table(w io.Writer, header string, rows [][]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		parts := make([]string, len(r))
		for i, v := range r {
			parts[i] = fmt.Sprint(v)
		}
		fmt.Fprintln(tw, strings.Join(parts, "\t"))
	}
	tw.Flush()
}

type jobView struct {
	ID          string                   `json:"id"`
	Kind        string                   `json:"kind"`
	Status      string                   `json:"status"`
	Target      string                   `json:"target"`
	CreatedAt   *time.Time               `json:"created_at"`
	CompletedAt *time.Time               `json:"completed_at"`
	Attempts    int                      `json:"attempts"`
	Error       *struct{ Code string }   `json:"error"`
	Webhook     *struct{ Status string } `json:"webhook"`
}

func (j jobView) row() []any {
	created, done, errCode, hook := "-", "-", "-", "-"
	if j.CreatedAt != nil {
		created = j.CreatedAt.UTC().Format(time.RFC3339)
	}
	if j.CompletedAt != nil {
		done = j.CompletedAt.UTC().Format(time.RFC3339)
	}
	if j.Error != nil {
		errCode = j.Error.Code
	}
	if j.Webhook != nil {
		hook = j.Webhook.Status
	}
	return []any{j.ID, j.Kind, j.Status, j.Target, created, done, j.Attempts, errCode, hook}
}

const jobHeader = "ID\tKIND\tSTATUS\tTARGET\tCREATED\tCOMPLETED\tATTEMPTS\tERROR\tWEBHOOK"

func printJob(body []byte, w io.Writer) {
	var j jobView
	json.Unmarshal(body, &j)
	table(w, jobHeader, [][]any{j.row()})
}

func printJobs(body []byte, w io.Writer) {
	var l struct {
		Data       []jobView `json:"data"`
		NextCursor *string   `json:"next_cursor"`
	}
	json.Unmarshal(body, &l)
	rows := make([][]any, len(l.Data))
	for i, j := range l.Data {
		rows[i] = j.row()
	}
	table(w, jobHeader, rows)
	if l.NextCursor != nil {
		fmt.Fprintf(w, "(more: --json shows next_cursor)\n")
	}
}

func printQueues(body []byte, w io.Writer) {
	var l struct {
		Data []struct {
			Queue                                             string
			Size, Pending, Active, Scheduled, Retry, Archived int
			ProcessedToday                                    int     `json:"processed_today"`
			FailedToday                                       int     `json:"failed_today"`
			LatencyS                                          float64 `json:"latency_s"`
			Paused                                            bool
			Ready                                             int
		} `json:"data"`
		Tenants []struct {
			Tenant, Tier string
			ReadySync    int `json:"ready_sync"`
			ReadyAsync   int `json:"ready_async"`
			Running      int
		} `json:"tenants"`
	}
	json.Unmarshal(body, &l)
	var rows [][]any
	for _, q := range l.Data {
		rows = append(rows, []any{q.Queue, q.Size, q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived, q.ProcessedToday, q.FailedToday, fmt.Sprintf("%.3fs", q.LatencyS), q.Paused, q.Ready})
	}
	table(w, "QUEUE\tSIZE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tARCHIVED\tDONE TODAY\tFAILED TODAY\tLATENCY\tPAUSED\tREADY", rows)
	fmt.Fprintln(w)
	if len(l.Tenants) == 0 {
		fmt.Fprintln(w, "no tenant has jobs ready or running")
		return
	}
	rows = rows[:0]
	for _, t := range l.Tenants {
		rows = append(rows, []any{t.Tenant, t.Tier, t.ReadySync, t.ReadyAsync, t.Running})
	}
	table(w, "TENANT\tTIER\tREADY SYNC\tREADY ASYNC\tRUNNING", rows)
}

func printTargets(body []byte, w io.Writer) {
	var l struct {
		Data []struct {
			Name    string
			Circuit struct {
				State    string
				Failures int
				RetryInS float64 `json:"retry_in_s"`
			}
			Pool *struct {
				Name string
				Keys []struct {
					ID        string
					Status    string
					InFlight  int     `json:"in_flight"`
					RestsForS float64 `json:"rests_for_s"`
				}
			} `json:"key_pool"`
		} `json:"data"`
	}
	json.Unmarshal(body, &l)
	var rows [][]any
	for _, t := range l.Data {
		keys := "-"
		if t.Pool != nil {
			var ks []string
			for _, k := range t.Pool.Keys {
				ks = append(ks, fmt.Sprintf("%s:%s", k.ID, k.Status))
			}
			keys = strings.Join(ks, " ")
		}
		rows = append(rows, []any{t.Name, t.Circuit.State, t.Circuit.Failures, fmt.Sprintf("%.0fs", t.Circuit.RetryInS), keys})
	}
	table(w, "TARGET\tBREAKER\tFAILURES\tRETRY IN\tKEYS", rows)
}
