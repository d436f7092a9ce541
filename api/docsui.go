package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
)

// docsAssetsPath is where the API reference pages load their scripts and
// styles from: files embedded in the binary, so that the pages work
// offline and behind a firewall. api/docsui/README.md says which versions
// of Swagger UI and ReDoc they are and how to update them.
const docsAssetsPath = "/docs/assets"

//go:embed docsui/docs.html docsui/redoc.html docsui/docs.js docsui/redoc.js docsui/docs.css
//go:embed docsui/swagger-ui/swagger-ui-bundle.js docsui/swagger-ui/swagger-ui.css
//go:embed docsui/redoc/redoc.standalone.js
var docsFiles embed.FS

// docsAssetFiles are the files served under docsAssetsPath, by the name
// they are served as: nothing else of docsui/ is.
var docsAssetFiles = map[string]string{
	"swagger-ui-bundle.js": "docsui/swagger-ui/swagger-ui-bundle.js",
	"swagger-ui.css":       "docsui/swagger-ui/swagger-ui.css",
	"redoc.standalone.js":  "docsui/redoc/redoc.standalone.js",
	"docs.js":              "docsui/docs.js",
	"redoc.js":             "docsui/redoc.js",
	"docs.css":             "docsui/docs.css",
}

// Each page's Content-Security-Policy allows the embedded assets and calls
// to this api, and nothing else: no inline script, no other origin, no
// plugin, no framing. Swagger UI draws its icons as data: images from its
// stylesheet.
const swaggerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// redocCSP differs from swaggerCSP in two needs of ReDoc: its styles are
// styled-components, which insert <style> elements at run time
// ('unsafe-inline' styles; scripts stay 'self' only), and its search index
// runs in a Web Worker it creates from a blob: URL.
const redocCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsAsset is one embedded file, with what its answers need.
type docsAsset struct {
	name    string
	body    []byte
	etag    string // strong: a digest of body
	version string // in the pages' URLs, so that a new build is a new URL

	gzipOnce sync.Once
	gzipped  []byte // body gzipped on first use; nil when that does not pay
}

// docsUI is the API reference: the two pages, rendered once, and their
// assets.
type docsUI struct {
	swagger []byte
	redoc   []byte
	assets  map[string]*docsAsset
}

// loadDocsUI reads the embedded files once per process: they cannot change.
var loadDocsUI = sync.OnceValues(func() (*docsUI, error) {
	ui := &docsUI{assets: map[string]*docsAsset{}}
	for name, file := range docsAssetFiles {
		body, err := docsFiles.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("api: docs asset %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		ui.assets[name] = &docsAsset{name: name, body: body,
			etag: `"` + hex.EncodeToString(sum[:16]) + `"`, version: hex.EncodeToString(sum[:6])}
	}
	var err error
	if ui.swagger, err = ui.render("docsui/docs.html"); err != nil {
		return nil, err
	}
	if ui.redoc, err = ui.render("docsui/redoc.html"); err != nil {
		return nil, err
	}
	return ui, nil
})

// render executes a page, whose {{asset "name"}} is the URL of an asset
// with its version.
func (ui *docsUI) render(file string) ([]byte, error) {
	tmpl, err := template.New(path.Base(file)).Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			a := ui.assets[name]
			if a == nil {
				return "", fmt.Errorf("no docs asset %q", name)
			}
			return docsAssetsPath + "/" + name + "?v=" + a.version, nil
		},
	}).ParseFS(docsFiles, file)
	if err != nil {
		return nil, fmt.Errorf("api: %s: %w", file, err)
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, nil); err != nil {
		return nil, fmt.Errorf("api: %s: %w", file, err)
	}
	return page.Bytes(), nil
}

// docsPages is the reference pages and their assets, read from the binary
// on first use, so that an api whose docs nobody opens keeps their 3 MB out
// of its memory. The files are embedded: an error means a broken build.
func docsPages(c *gin.Context) *docsUI {
	ui, err := loadDocsUI()
	if err != nil {
		writeError(c, err, meta{RequestID: requestID(c)})
		return nil
	}
	return ui
}

// docsHTML serves GET /docs: Swagger UI, with "try it".
func (s *Server) docsHTML(c *gin.Context) {
	if ui := docsPages(c); ui != nil {
		servePage(c, ui.swagger, swaggerCSP)
	}
}

// redocHTML serves GET /redoc: the same description laid out by ReDoc.
func (s *Server) redocHTML(c *gin.Context) {
	if ui := docsPages(c); ui != nil {
		servePage(c, ui.redoc, redocCSP)
	}
}

func servePage(c *gin.Context, page []byte, csp string) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Pages are small and name their assets by version: always revalidate
	// them, so that an upgrade shows at once.
	h.Set("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page)
}

// docsAsset serves GET /docs/assets/{file}.
func (s *Server) docsAsset(c *gin.Context) {
	ui := docsPages(c)
	if ui == nil {
		return
	}
	a := ui.assets[strings.TrimPrefix(c.Param("file"), "/")]
	if a == nil {
		writeError(c, reliapi.Errorf(reliapi.CodeNotFound, "No docs asset %s", c.Param("file")), meta{RequestID: requestID(c)})
		return
	}
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if c.Query("v") == a.version {
		// This URL names this content for good.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if gz := a.gzip(); gz != nil && acceptsGzip(c.Request) {
		body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gzip"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304 and sets Content-Type
	// from the name's extension.
	http.ServeContent(c.Writer, c.Request, a.name, time.Time{}, bytes.NewReader(body))
}

// gzip returns the asset gzipped, compressing it on first use (the
// bundles shrink to about a quarter), or nil when that does not save much.
func (a *docsAsset) gzip() []byte {
	a.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		if buf.Len() < len(a.body)*9/10 {
			a.gzipped = buf.Bytes()
		}
	})
	return a.gzipped
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip
// with a weight above zero.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimSpace(params), "=")
		if !ok || strings.TrimSpace(name) != "q" {
			return true
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return err == nil && q > 0
	}
	return false
}
