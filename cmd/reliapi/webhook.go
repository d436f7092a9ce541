package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reliapi/reliapi/webhook"
)

const webhookUsage = `usage: reliapi webhook verify [--secret whsec_…]… [--id ID --timestamp TS --signature SIG] < delivery

Checks a webhook delivery: its signature against the secrets (several during
a rotation; default $RELIAPI_WEBHOOK_SECRET, space-separated) and its
timestamp (at most 5 minutes off). Stdin is the whole HTTP request as the
receiver got it, or, with --id, --timestamp and --signature (the
webhook-* headers), just its body. Exit status 0 when it verifies, 1 when
it does not, 2 on bad usage.
`

// secretFlags collects repeated --secret flags.
type secretFlags []string

func (s *secretFlags) String() string     { return fmt.Sprint(len(*s), " secrets") }
func (s *secretFlags) Set(v string) error { *s = append(*s, v); return nil }

// webhookCommand serves `reliapi webhook verify`.
func webhookCommand(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, webhookUsage)
		return 2
	}
	fs := flag.NewFlagSet("reliapi webhook verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, webhookUsage) }
	var raw secretFlags
	fs.Var(&raw, "secret", "signing secret, whsec_… (repeatable)")
	id := fs.String("id", "", "the webhook-id header (stdin is then the body only)")
	ts := fs.String("timestamp", "", "the webhook-timestamp header")
	sig := fs.String("signature", "", "the webhook-signature header")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(raw) == 0 {
		raw = strings.Fields(getenv("RELIAPI_WEBHOOK_SECRET"))
	}
	if len(raw) == 0 {
		fmt.Fprintln(stderr, "reliapi webhook verify: no secret: pass --secret or set RELIAPI_WEBHOOK_SECRET")
		return 2
	}
	var secrets []webhook.Secret
	for _, r := range raw {
		s, err := webhook.ParseSecret(r)
		if err != nil {
			fmt.Fprintln(stderr, "reliapi webhook verify:", err)
			return 2
		}
		secrets = append(secrets, s)
	}

	header, body, err := readDelivery(stdin, *id, *ts, *sig)
	if err != nil {
		fmt.Fprintln(stderr, "reliapi webhook verify:", err)
		return 2
	}
	if err := webhook.Verify(header, body, secrets, time.Now()); err != nil {
		fmt.Fprintln(stderr, "reliapi webhook verify: FAILED:", err)
		return 1
	}
	sent, _ := strconv.ParseInt(header.Get(webhook.HeaderTimestamp), 10, 64)
	fmt.Fprintf(stdout, "ok: %s %s, sent %s\n", webhook.HeaderID, header.Get(webhook.HeaderID), time.Unix(sent, 0).UTC().Format(time.RFC3339))
	return 0
}

// maxDelivery bounds what is read from stdin.
const maxDelivery = 32 << 20

// readDelivery reads a delivery from r: a whole HTTP request, or, when the
// headers come as flags, the body alone.
func readDelivery(r io.Reader, id, ts, sig string) (http.Header, []byte, error) {
	r = io.LimitReader(r, maxDelivery)
	if id != "" || ts != "" || sig != "" {
		body, err := io.ReadAll(r)
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sig)
		return h, body, err
	}
	req, err := http.ReadRequest(bufio.NewReader(r))
	if err != nil {
		return nil, nil, fmt.Errorf("stdin is not an HTTP request (pass --id, --timestamp and --signature to give the body alone): %w", err)
	}
	defer req.Body.Close()
	body, err := io.ReadAll(req.Body)
	return req.Header, body, err
}
