package httpbin

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxBodyBytes is the largest request body the handler reads; a larger body
// is answered with 413 Request Entity Too Large.
const MaxBodyBytes = 1 << 20

// MaxDelay is the longest wait /delay/{ms} honours; larger values are capped.
const MaxDelay = 60 * time.Second

// maxFlakyKeys bounds the number of /flaky keys one handler remembers.
const maxFlakyKeys = 10_000

// New returns a handler serving the routes described in the package
// documentation. Each call returns a handler with its own /flaky state.
func New() http.Handler {
	f := &flaky{calls: make(map[string]int)}
	mux := http.NewServeMux()
	mux.HandleFunc("/get", handleGet)
	mux.HandleFunc("/anything", handleAnything)
	mux.HandleFunc("/anything/{rest...}", handleAnything)
	mux.HandleFunc("/status/{code}", handleStatus)
	mux.HandleFunc("/delay/{ms}", handleDelay)
	mux.HandleFunc("/flaky", f.handle)
	mux.HandleFunc("/headers", handleHeaders)
	mux.HandleFunc("/ip", handleIP)
	mux.HandleFunc("/uuid", handleUUID)
	mux.HandleFunc("/", handleNotFound)
	return mux
}

func handleGet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, echo(r))
}

func handleAnything(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	resp := echo(r)
	resp["body"] = string(body)
	resp["json"] = nil
	if len(body) > 0 && json.Valid(body) {
		resp["json"] = json.RawMessage(body)
	}
	writeJSON(w, http.StatusOK, resp)
}

func handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 100 || code > 599 {
		writeError(w, http.StatusBadRequest, "status code must be an integer from 100 to 599")
		return
	}
	if v := r.URL.Query().Get("retry_after"); v != "" {
		w.Header().Set("Retry-After", v)
	}
	writeJSON(w, code, map[string]any{"status": code})
}

func handleDelay(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.PathValue("ms"))
	if err != nil || ms < 0 {
		writeError(w, http.StatusBadRequest, "delay must be a non-negative integer of milliseconds")
		return
	}
	d := delayFor(ms)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
		// The client went away; nobody is left to read an answer.
		return
	case <-timer.C:
	}
	resp := echo(r)
	resp["delay_ms"] = d.Milliseconds()
	writeJSON(w, http.StatusOK, resp)
}

// delayFor converts a non-negative number of milliseconds to a wait of at
// most MaxDelay.
func delayFor(ms int) time.Duration {
	if int64(ms) > MaxDelay.Milliseconds() {
		return MaxDelay
	}
	return time.Duration(ms) * time.Millisecond
}

func handleHeaders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"headers": headers(r)})
}

func handleIP(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"origin": origin(r)})
}

func handleUUID(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"uuid": newUUID()})
}

func handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found", "path": r.URL.Path})
}

// echo describes r the way httpbin's /get does.
func echo(r *http.Request) map[string]any {
	args := map[string][]string(r.URL.Query())
	if args == nil {
		args = map[string][]string{}
	}
	return map[string]any{
		"method":  r.Method,
		"url":     requestURL(r),
		"args":    args,
		"headers": headers(r),
		"origin":  origin(r),
	}
}

// requestURL returns the absolute URL the client asked for.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// headers returns r's headers, Host included, each name mapped to its
// values joined by ", ".
func headers(r *http.Request) map[string]string {
	h := make(map[string]string, len(r.Header)+1)
	for name, values := range r.Header {
		h[name] = strings.Join(values, ", ")
	}
	if r.Host != "" {
		h["Host"] = r.Host
	}
	return h
}

// origin returns the client's IP address.
func origin(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newUUID returns a random (version 4) UUID in its canonical text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg})
}

// writeJSON answers with code and v encoded as JSON. Statuses that may not
// carry a body (1xx, 204, 304) get only the header.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own maps reach here, so this is a programming error.
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":"encoding response"}`+"\n")
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
