//go:build browser

package api_test

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestBrowser loads the API reference (/docs, /redoc) and the queue UI
// (/admin/queues/) in headless Chromium, and fails when a page reports a
// console error, an uncaught exception or a load the Content-Security-Policy
// refused, or when it does not render what it is for. It runs only with
// -tags browser: `make test-browser`, which installs Chromium.
func TestBrowser(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, authYAML: tenantsYAML})
	b := startBrowser(t)
	operations := countOperations(t, s)

	t.Run("docs", func(t *testing.T) {
		b.navigate(t, s.url+"/docs")
		b.waitFor(t, "every operation", `document.querySelectorAll('.opblock').length === `+operations)
		// The description's Markdown is rendered: its `code` spans are elements.
		b.waitFor(t, "the description's Markdown", `document.querySelectorAll('.info .renderedMarkdown code').length > 0`)
		// A schema: the Job of the Schemas section, opened, shows its fields.
		b.waitFor(t, "the Job schema's fields", `(() => {
			const job = Array.from(document.querySelectorAll('.models article[data-json-schema-level="0"]'))
				.find(a => a.querySelector('.json-schema-2020-12__title')?.innerText === 'Job');
			const open = job?.querySelector('.json-schema-2020-12-accordion');
			if (open?.getAttribute('aria-expanded') === 'false') open.click();
			return !!job && job.innerText.includes('idempotency_key') && job.innerText.includes('completed_at');
		})()`)
		tryIt(t, b)
		pageIsClean(t, b, s.url)
	})

	t.Run("redoc", func(t *testing.T) {
		b.navigate(t, s.url+"/redoc")
		b.waitFor(t, "every operation", `document.querySelectorAll('div[data-section-id^="tag/"][data-section-id*="/operation/"]').length === `+operations)
		// A request schema: the job's fields.
		b.waitFor(t, "the JobRequest schema", `(() => {
			const op = document.querySelector('div[data-section-id="tag/jobs/operation/createJob"]');
			return !!op && op.innerText.includes('idempotency_key') && op.innerText.includes('deadline');
		})()`)
		pageIsClean(t, b, s.url)
	})

	t.Run("queues", func(t *testing.T) {
		basic := base64.StdEncoding.EncodeToString([]byte("operator:admin-key"))
		b.must(t, "Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{"Authorization": "Basic " + basic}}, nil)
		defer b.must(t, "Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{}}, nil)
		b.navigate(t, s.url+"/admin/queues/")
		b.waitFor(t, "the queue UI", `document.readyState === 'complete' && document.body.innerText.includes('Queues')`)
		pageIsClean(t, b, s.url)
	})
}

// tryIt authorizes with tenant a's key and runs GET /v1/usage from the
// page: the answer names tenant a, so the key was sent.
func tryIt(t *testing.T, b *browser) {
	t.Helper()
	var ignored any
	if err := b.eval(`window.ui.preauthorizeApiKey('apiKey', 'key-a'), true`, &ignored); err != nil {
		t.Fatal(err)
	}
	op := `document.querySelector('#operations-account-usage')`
	b.waitFor(t, "the usage operation opened", `(() => {
		const op = `+op+`;
		if (!op.classList.contains('is-open')) op.querySelector('.opblock-summary-control').click();
		return !!op.querySelector('.try-out__btn');
	})()`)
	b.waitFor(t, "try it out", `(() => {
		const op = `+op+`;
		op.querySelector('.try-out__btn:not(.cancel)')?.click();
		return !!op.querySelector('.execute');
	})()`)
	if err := b.eval(op+`.querySelector('.execute').click(), true`, &ignored); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the usage answer", `!!`+op+`.querySelector('.live-responses-table tbody .response-col_status')`)
	var got struct{ Status, Body string }
	err := b.eval(`(() => { const op = `+op+`; return {
		status: op.querySelector('.live-responses-table tbody .response-col_status').innerText.trim(),
		body: op.querySelector('.live-responses-table tbody .response-col_description').innerText };
	})()`, &got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Status, "200") || !strings.Contains(got.Body, `"tenant": "a"`) {
		t.Errorf("try it: GET /v1/usage with tenant a's key answered %q: %.300s", got.Status, got.Body)
	}
}

// pageIsClean fails when the page reported a problem, or asked for
// anything but this api and inline data.
func pageIsClean(t *testing.T, b *browser, origin string) {
	t.Helper()
	problems, requests := b.take()
	for _, p := range problems {
		t.Errorf("the page reported: %s", p)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Errorf("the page asked for %s, not on %s", u, origin)
		}
	}
	if len(requests) == 0 {
		t.Error("no request seen: the Network domain reports nothing")
	}
}

// countOperations is how many operations /openapi.json describes, as a
// JavaScript number.
func countOperations(t *testing.T, s *stack) string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(s.raw("GET", "/openapi.json").raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				n++
			}
		}
	}
	return strconv.Itoa(n)
}
