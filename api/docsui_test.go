package api_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestDocsPages checks what the API reference pages promise without a
// browser (TestBrowser, under -tags browser, renders them): a policy that
// allows only this origin, every script and stylesheet embedded and named
// by version, nothing from another origin, and the assets' caching.
func TestDocsPages(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true})
	assetURL := regexp.MustCompile(`(?:src|href)="(/docs/assets/[^"?]+)\?v=([0-9a-f]{12})"`)
	for path, ui := range map[string]string{"/docs": "swagger-ui-bundle.js", "/redoc": "redoc.standalone.js"} {
		page := s.raw("GET", path)
		if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", path, page.status, page.header.Get("Content-Type"))
		}
		csp := page.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "http") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' ") {
			t.Errorf("%s: Content-Security-Policy %q allows more than the embedded scripts", path, csp)
		}
		html := string(page.raw)
		if strings.Contains(html, "://") || strings.Contains(html, "<script>") || strings.Contains(html, "style=") {
			t.Errorf("%s names another origin or has inline script or style:\n%s", path, html)
		}
		links := assetURL.FindAllStringSubmatch(html, -1)
		if len(links) < 3 || !strings.Contains(html, "/docs/assets/"+ui+"?v=") {
			t.Errorf("%s links %d versioned assets, not its UI %s:\n%s", path, len(links), ui, html)
		}
		for _, l := range links {
			checkAsset(t, s, l[1], l[2])
		}
	}

	// Anything else under /docs/assets is a 404 in the envelope.
	for _, path := range []string{"/docs/assets/README.md", "/docs/assets/../openapi.yaml", "/docs/assets/swagger-ui/LICENSE"} {
		if r := s.raw("GET", path); r.status != 404 || r.body["success"] != false {
			t.Errorf("%s: %d %.100s", path, r.status, r.raw)
		}
	}
}

// checkAsset fetches an asset as its page links it (cached for good),
// gzipped, and again by its ETag (304); and without the version (revalidated).
func checkAsset(t *testing.T, s *stack, path, version string) {
	t.Helper()
	r := s.raw("GET", path+"?v="+version)
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(r.raw) == 0 {
		t.Fatalf("%s: %d, Cache-Control %q", path, r.status, r.header.Get("Cache-Control"))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	gz := s.raw("GET", path+"?v="+version, "Accept-Encoding", "gzip")
	if gz.header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(gz.raw))
		if err != nil {
			t.Fatalf("%s gzipped: %v", path, err)
		}
		if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, r.raw) {
			t.Errorf("%s: the gzipped answer is not the file", path)
		}
	} else if len(r.raw) > 64<<10 {
		t.Errorf("%s (%d bytes) is not gzipped when the client accepts it", path, len(r.raw))
	}
	if refused := s.raw("GET", path+"?v="+version, "Accept-Encoding", "gzip;q=0, identity"); refused.header.Get("Content-Encoding") != "" {
		t.Errorf("%s with gzip;q=0: Content-Encoding %q", path, refused.header.Get("Content-Encoding"))
	}
	etag := r.header.Get("ETag")
	if again := s.raw("GET", path+"?v="+version, "If-None-Match", etag); etag == "" || again.status != 304 {
		t.Errorf("%s with If-None-Match %s: %d", path, etag, again.status)
	}
	if stale := s.raw("GET", path+"?v=0"); stale.status != 200 || stale.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("%s?v=0: %d, Cache-Control %q", path, stale.status, stale.header.Get("Cache-Control"))
	}
}
