//go:build browser

package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reliapi/reliapi/internal/testenv"
)

// browser is headless Chromium driven over the Chrome DevTools Protocol
// (CDP), with just what TestBrowser needs: one page, navigation, script
// evaluation, and every console error, uncaught exception, refused or
// failed load the page reports. It talks CDP over github.com/coder/websocket
// (already in the module graph) rather than pulling in a CDP library.
type browser struct {
	conn    *websocket.Conn
	session string // the page's flat session

	mu       sync.Mutex
	nextID   int64
	pending  map[int64]chan cdpMessage
	problems []string // console errors and the like, since the last take
	requests []string // URLs the page asked for, since the last take
}

// cdpMessage is a command's reply or an event.
type cdpMessage struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	SessionID string          `json:"sessionId"`
	Params    json.RawMessage `json:"params"`
	Result    json.RawMessage `json:"result"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// chromiumFlags are the flags Chromium runs with: headless, no sandbox
// (tests may run as root), and nothing that reaches for the network.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"}

// startBrowser starts Chromium (RELIAPI_CHROMIUM, else /usr/bin/chromium)
// with a new profile and opens one blank page on it.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := os.Getenv("RELIAPI_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Chromium at %s (make test-browser installs Debian's): %v", bin, err)
	}
	profile := t.TempDir()
	stderr := &testenv.Buffer{Max: 64 << 10}
	cmd := exec.Command(bin, append(chromiumFlags, "--user-data-dir="+profile, "about:blank")...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	// Chromium writes the port it chose, and the browser's path, here.
	var port, path string
	err := testenv.Poll(context.Background(), 30*time.Second, "Chromium's DevToolsActivePort", func(context.Context) error {
		select {
		case <-exited:
			return testenv.Permanent(fmt.Errorf("chromium exited: %s", stderr))
		default:
		}
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		lines := strings.Fields(string(b))
		if err != nil || len(lines) < 2 {
			return errors.New("not written yet")
		}
		port, path = lines[0], lines[1]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://127.0.0.1:"+port+path, nil)
	if err != nil {
		t.Fatalf("CDP: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	b := &browser{conn: conn, pending: map[int64]chan cdpMessage{}}
	go b.read()
	b.openPage(t)
	return b
}

// openPage creates a page, attaches to it and enables the domains whose
// events say what went wrong.
func (b *browser) openPage(t *testing.T) {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.must(t, "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.must(t, "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	b.session = attached.SessionID
	for _, domain := range []string{"Runtime", "Log", "Page", "Network"} {
		b.must(t, domain+".enable", map[string]any{}, nil)
	}
}

// read dispatches replies to their callers and records the page's events.
func (b *browser) read() {
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		b.mu.Lock()
		if ch := b.pending[m.ID]; m.ID != 0 && ch != nil {
			delete(b.pending, m.ID)
			ch <- m
		} else if m.SessionID == b.session {
			b.record(m)
		}
		b.mu.Unlock()
	}
}

// record notes an event that reports a problem, or a request. b.mu is held.
func (b *browser) record(m cdpMessage) {
	var p struct {
		Type string `json:"type"`
		Args []struct {
			Value       any    `json:"value"`
			Description string `json:"description"`
		} `json:"args"`
		ExceptionDetails struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
		Entry struct {
			Level, Source, Text, URL string
		} `json:"entry"`
		Request struct {
			URL string `json:"url"`
		} `json:"request"`
	}
	json.Unmarshal(m.Params, &p)
	switch {
	case m.Method == "Runtime.consoleAPICalled" && (p.Type == "error" || p.Type == "assert"):
		var parts []string
		for _, a := range p.Args {
			parts = append(parts, fmt.Sprint(a.Value)+a.Description)
		}
		b.problems = append(b.problems, "console."+p.Type+": "+strings.Join(parts, " "))
	case m.Method == "Runtime.exceptionThrown":
		b.problems = append(b.problems, "uncaught: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
	case m.Method == "Log.entryAdded" && p.Entry.Level == "error":
		b.problems = append(b.problems, fmt.Sprintf("%s error: %s %s", p.Entry.Source, p.Entry.Text, p.Entry.URL))
	case m.Method == "Network.requestWillBeSent":
		b.requests = append(b.requests, p.Request.URL)
	}
}

// call sends a command to the page's session (or to the browser, before
// there is one) and decodes its result into out.
func (b *browser) call(method string, params, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params, "sessionId": b.session})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(m.Result, out)
	case <-ctx.Done():
		return fmt.Errorf("%s: no reply: %w", method, ctx.Err())
	}
}

func (b *browser) must(t *testing.T, method string, params, out any) {
	t.Helper()
	if err := b.call(method, params, out); err != nil {
		t.Fatal(err)
	}
}

// navigate loads url in the page, forgetting what earlier pages reported.
func (b *browser) navigate(t *testing.T, url string) {
	t.Helper()
	b.take()
	var r struct {
		ErrorText string `json:"errorText"`
	}
	b.must(t, "Page.navigate", map[string]any{"url": url}, &r)
	if r.ErrorText != "" {
		t.Fatalf("navigate %s: %s", url, r.ErrorText)
	}
}

// eval runs expr in the page (awaiting a promise) and decodes its value.
func (b *browser) eval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("%s: %s", expr, r.ExceptionDetails.Text)
	}
	if len(r.Result.Value) == 0 {
		return fmt.Errorf("%s: no value", expr)
	}
	return json.Unmarshal(r.Result.Value, out)
}

// waitFor polls expr, a boolean expression, until it is true.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	err := testenv.Poll(context.Background(), 60*time.Second, what, func(context.Context) error {
		var ok bool
		if err := b.eval(expr, &ok); err != nil {
			return err
		}
		if !ok {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		// Say what the page shows and reported, to tell why.
		var text string
		b.eval(`document.body ? document.body.innerText.slice(0, 600) : ''`, &text)
		b.mu.Lock()
		problems := strings.Join(b.problems, "\n  ")
		b.mu.Unlock()
		t.Fatalf("%v\npage text: %q\nproblems:\n  %s", err, text, problems)
	}
}

// take returns, and forgets, the problems and requests reported so far.
func (b *browser) take() (problems, requests []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	problems, requests = b.problems, b.requests
	b.problems, b.requests = nil, nil
	return problems, requests
}
